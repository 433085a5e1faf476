export * from './cli';
export * from './io';
export * from './local-pipeline';
