export * from './batch-job';
export * from './run-batch';
export * from './watermark';
