export * from './batch-job';
export * from './prepare-records';
export * from './run-batch';
export * from './watermark';
