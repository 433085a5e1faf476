export * from './app';
export * from './gcp-poller';
export * from './poll-cycle';
export * from './poller';
export * from './source-lease';
