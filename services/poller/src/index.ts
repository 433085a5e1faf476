export * from './app';
export * from './open-poller';
export * from './poll-cycle';
export * from './poller';
export * from './source-lease';
