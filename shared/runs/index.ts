export * from './run-audit';
