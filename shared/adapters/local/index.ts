export * from './duckdb-warehouse';
export * from './sqlite-snapshot-store';
export * from './sqlite-local-bus';
export * from './sqlite-local-bus-client';
export * from './duckdb-user-query';
