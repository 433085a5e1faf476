import { bigqueryEmulator, installBigqueryEmulatorIfMissing } from './bigquery';
import { fakeGcsServer, installFakeGcsServerIfMissing, storageEmulatorHost } from './fake-gcs-server';
import { firestoreEmulator, pubsubEmulator } from './gcloud-emulators';
import { EMULATOR_VARIABLES, type EmulatorName } from './emulator-variables';
import { startEmulator, type EmulatorSpec, type RunningEmulator } from './start-emulator';

interface Wanted {
  readonly spec: () => EmulatorSpec;
  /** Runs before the start: installs what can be installed without asking (BigQuery, Cloud Storage). */
  readonly prepare?: () => Promise<void>;
  /** The main variable's value from the emulator's `127.0.0.1:<port>`; that itself when absent. */
  readonly variable?: (hostPort: string) => string;
}

const EMULATORS: Readonly<Record<EmulatorName, Wanted>> = {
  pubsub: { spec: pubsubEmulator },
  firestore: { spec: firestoreEmulator },
  bigquery: { spec: bigqueryEmulator, prepare: installBigqueryEmulatorIfMissing },
  storage: { spec: fakeGcsServer, prepare: installFakeGcsServerIfMissing, variable: storageEmulatorHost },
};

/**
 * What this jest run started, across every project's global setup: jest runs each distinct
 * setup file once, one after the other, in its main process, so a later setup sees the variables
 * an earlier one set and reuses that emulator; the one teardown stops them all.
 */
function startedEmulators(): RunningEmulator[] {
  const holder = globalThis as { __changefeedEmulators?: RunningEmulator[] };
  holder.__changefeedEmulators ??= [];
  return holder.__changefeedEmulators;
}

/**
 * Starts the named emulators, in parallel, except those whose variables already point at a running
 * one (`source /tmp/emu/env.sh`, a developer's own, or an earlier project's setup). Workers inherit
 * the variables because jest forks them after every global setup has run. If one fails to start,
 * every emulator this run started is stopped (jest runs no teardown after a failed setup).
 */
export async function startMissingEmulators(names: readonly EmulatorName[]): Promise<void> {
  // Tests never run on Google Cloud: without this the auth library probes the metadata server.
  process.env['METADATA_SERVER_DETECTION'] ??= 'none';
  const started = startedEmulators();
  const pending = names
    .filter((name) => EMULATOR_VARIABLES[name].some((v) => (process.env[v] ?? '') === ''))
    .map(async (name) => {
      const { spec, prepare, variable = (hostPort: string) => hostPort } = EMULATORS[name];
      await prepare?.();
      const emulator = await startEmulator(spec());
      started.push(emulator);
      const [main, ...extras] = EMULATOR_VARIABLES[name];
      process.env[main] = variable(emulator.hostPort);
      extras.forEach((v, i) => {
        process.env[v] = emulator.extraHostPorts[i];
      });
    });
  const results = await Promise.allSettled(pending);
  const failures = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failures.length > 0) {
    await stopStartedEmulators();
    throw new Error(failures.map((f) => String(f.reason instanceof Error ? f.reason.message : f.reason)).join('\n'));
  }
}

export async function stopStartedEmulators(): Promise<void> {
  const started = startedEmulators();
  await Promise.all(started.splice(0).map((e) => e.stop()));
}
