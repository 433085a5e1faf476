export * from './gcs-text-reader';
export * from './pubsub-push-auth';
