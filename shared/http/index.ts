export * from './listen';
export * from './redact-url';
