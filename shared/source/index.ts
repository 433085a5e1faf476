export * from './auth';
export * from './create-source-client';
export * from './dot-path';
export * from './http-source-client';
export * from './pagination';
export * from './rate-limiter';
export * from './retry-policy';
export * from './source-error';
