export * from './demo-app';
export * from './demo-data';
export * from './demo-mutator';
export * from './demo-store';
export * from './fault-injector';
export * from './prng';
export * from './start-demo-api';
