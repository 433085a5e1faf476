export * from './change-event';
export * from './change-message';
export * from './parse-change-event';
export * from './push-envelope';
