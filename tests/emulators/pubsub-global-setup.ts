import { startMissingEmulators } from './global-emulators';

/**
 * Global setup of the `bench` jest project: the benchmark smoke test measures Pub/Sub delivery
 * into DuckDB, so it needs the Pub/Sub emulator and nothing else. A file of its own because jest
 * runs each distinct setup file once per run, whichever projects name it.
 */
export default async function pubsubGlobalSetup(): Promise<void> {
  await startMissingEmulators(['pubsub']);
}
