export * from './gcs-text-reader';
export * from './pubsub-push-auth';
export * from './pubsub-dead-letter-queue';
export * from './pubsub-event-publisher';
export * from './bigquery-clients';
export * from './bigquery-warehouse';
export * from './firestore-snapshot-store';
export * from './gcp-runtime';
