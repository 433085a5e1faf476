export * from './cli';
export * from './io';
