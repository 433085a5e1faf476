export * from './tables';
export * from './checked-value';
export * from './value-ranges';
export * from './current-sql';
