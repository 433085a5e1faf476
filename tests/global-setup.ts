import { bigqueryEmulator } from './emulators/bigquery';
import { firestoreEmulator, pubsubEmulator } from './emulators/gcloud-emulators';
import { startEmulator, type EmulatorSpec, type RunningEmulator } from './emulators/start-emulator';

/**
 * Starts the emulators the GCP adapter tests talk to, unless the standard variables already point
 * at running ones (`.ci/run` may start them itself; a developer may keep them running). Workers
 * inherit the variables because jest forks them after this runs.
 */
const wanted: readonly {
  readonly variable: string;
  readonly spec: () => EmulatorSpec;
  /** Variables for the spec's extra ports, in order (BigQuery's Storage Write gRPC port). */
  readonly extraVariables?: readonly string[];
}[] = [
  { variable: 'PUBSUB_EMULATOR_HOST', spec: pubsubEmulator },
  { variable: 'FIRESTORE_EMULATOR_HOST', spec: firestoreEmulator },
  { variable: 'BIGQUERY_EMULATOR_HOST', spec: bigqueryEmulator, extraVariables: ['BIGQUERY_STORAGE_EMULATOR_HOST'] },
];

const started: RunningEmulator[] = [];

export default async function globalSetup(): Promise<void> {
  // Tests never run on Google Cloud: without this the auth library probes the metadata server.
  process.env['METADATA_SERVER_DETECTION'] ??= 'none';
  const pending = wanted
    .filter(({ variable, extraVariables = [] }) =>
      [variable, ...extraVariables].some((v) => (process.env[v] ?? '') === ''),
    )
    .map(async ({ variable, spec, extraVariables = [] }) => {
      const emulator = await startEmulator(spec());
      started.push(emulator);
      process.env[variable] = emulator.hostPort;
      extraVariables.forEach((v, i) => {
        process.env[v] = emulator.extraHostPorts[i];
      });
    });
  const results = await Promise.allSettled(pending);
  const failures = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failures.length > 0) {
    await Promise.all(started.map((e) => e.stop()));
    throw new Error(failures.map((f) => String(f.reason instanceof Error ? f.reason.message : f.reason)).join('\n'));
  }
  (globalThis as { __changefeedEmulators?: RunningEmulator[] }).__changefeedEmulators = started;
}
