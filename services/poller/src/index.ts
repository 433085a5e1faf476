export * from './app';
export * from './poll-cycle';
export * from './poller';
export * from './source-lease';
