import { startMissingEmulators } from './emulators/global-emulators';

/**
 * Global setup of the `gcp` jest project (tests/integration/gcp/, the gcp/pubsub/firestore/bigquery
 * e2e files; see jest.config.js): starts the Pub/Sub, Firestore, BigQuery and Cloud Storage
 * (fake-gcs-server) emulators, unless the standard variables already point at running ones
 * (`source /tmp/emu/env.sh`, or a developer's own), installing the BigQuery and Cloud Storage
 * emulators first if their caches lack them. Jest runs it only when a test of that project is
 * selected, so `npm run test:unit` starts nothing.
 */
export default async function globalSetup(): Promise<void> {
  await startMissingEmulators(['pubsub', 'firestore', 'bigquery', 'storage']);
}
