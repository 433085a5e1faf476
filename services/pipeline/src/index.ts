export * from './batch-scheduler';
export * from './control-server';
export * from './data-dir';
export * from './delivery-tracker';
export * from './gcp-pipeline';
export * from './local-pipeline';
export * from './shutdown-steps';
