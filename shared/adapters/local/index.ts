export * from './sqlite-local-bus';
