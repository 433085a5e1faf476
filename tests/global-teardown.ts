import { stopStartedEmulators } from './emulators/global-emulators';

/** Shared by every project that starts emulators: stops what this run's global setups started, and nothing else. */
export default async function globalTeardown(): Promise<void> {
  await stopStartedEmulators();
}
