export * from './backend';
export * from './data-dir';
export * from './open-backend';
export * from './private-files';
