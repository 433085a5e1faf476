export * from './defaults';
export * from './duration';
export * from './load';
export * from './schema';
export * from './service-env';
export * from './failpoints';
