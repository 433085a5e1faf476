/**
 * The variables each emulator is found by, as the Google clients read them: the first names the
 * emulator's main port, the rest its extra ports in order (BigQuery's Storage Write gRPC port).
 * A module of its own so that the emulator-free projects' setup file imports nothing else.
 */
export const EMULATOR_VARIABLES = {
  pubsub: ['PUBSUB_EMULATOR_HOST'],
  firestore: ['FIRESTORE_EMULATOR_HOST'],
  bigquery: ['BIGQUERY_EMULATOR_HOST', 'BIGQUERY_STORAGE_EMULATOR_HOST'],
  storage: ['STORAGE_EMULATOR_HOST'],
} as const satisfies Record<string, readonly [string, ...string[]]>;

/** The emulators a jest project's global setup can ask for. */
export type EmulatorName = keyof typeof EMULATOR_VARIABLES;
