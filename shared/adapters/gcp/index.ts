export * from './gcs-text-reader';
