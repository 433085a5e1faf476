export * from './change-event';
export * from './parse-change-event';
export * from './push-envelope';
