export * from './gcs-text-reader';
export * from './pubsub-push-auth';
export * from './pubsub-dead-letter-queue';
export * from './pubsub-event-publisher';
export * from './firestore-snapshot-store';
