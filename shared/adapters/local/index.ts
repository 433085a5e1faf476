export * from './duckdb-warehouse';
export * from './sqlite-local-bus';
