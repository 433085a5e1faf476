export * from './batch-scheduler';
export * from './control-server';
export { dataDirLayout, type DataDirLayout } from '@changefeed/shared/backend';
export * from './delivery-tracker';
export * from './gcp-pipeline';
export * from './local-pipeline';
export * from './shutdown-steps';
