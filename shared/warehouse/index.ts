export * from './tables';
export * from './checked-value';
export * from './current-sql';
