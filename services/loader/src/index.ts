export * from './app';
export * from './batch-loader';
export * from './pull-loader';
export * from './isolating-append';
export * from './message-batcher';
export * from './push-handler';
export * from './row-mapping';
export * from './truncate-utf8';
