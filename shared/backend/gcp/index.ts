export * from './gcp-backend';
