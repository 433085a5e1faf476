export * from './clock';
export * from './dead-letter-queue';
export * from './event-publisher';
export * from './reference-loader';
export * from './row-sink';
export * from './run-log';
export * from './snapshot-store';
export * from './source-client';
