export * from './local-backend';
