export * from './tables';
export * from './checked-value';
