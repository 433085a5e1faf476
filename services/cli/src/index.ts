export * from './cli';
export * from './io';
export * from './local-pipeline';
export * from './demo-api';
export * from './data-dir';
