export * from './duckdb-warehouse';
export * from './sqlite-snapshot-store';
export * from './sqlite-local-bus';
export * from './sqlite-local-bus-client';
export * from './shared-secret-push-auth';
export * from './duckdb-user-query';
export * from './file-payload-store';
