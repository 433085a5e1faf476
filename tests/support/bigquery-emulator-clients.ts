import Module from 'node:module';
import {
  BigQueryWarehouse,
  DEFAULT_CURRENT_OPTIONS,
  createBigQueryClients,
  type BigQueryWarehouseOptions,
  type CurrentOptions,
  type BigQueryClients,
  type BigQuerySdk,
} from '@changefeed/shared/adapters/gcp';
import type { GcpConfig } from '@changefeed/shared/config';
import { BIGQUERY_TEST_PROJECT } from '../emulators/bigquery';

/**
 * The official REST client loaded by Node's own loader, outside jest's module registry: inside it,
 * the client's HTTP layer fails on `import('node-fetch')` (jest's VM runs dynamic imports only
 * under --experimental-vm-modules). Same package, same code, unchanged. (`createRequire` would
 * not do: jest replaces it with its own require; `Module._load` it leaves alone.)
 */
export const nativeBigQuerySdk = (
  Module as unknown as { _load(request: string, parent: null, isMain: boolean): unknown }
)._load(require.resolve('@google-cloud/bigquery'), null, false) as BigQuerySdk;

/** `gcp.bigquery` for `dataset` on the emulator the test setup started (or the variables name). */
export function emulatorBigqueryConfig(dataset: string): GcpConfig['bigquery'] {
  return {
    dataset,
    location: 'US',
    apiEndpoint: `http://${requiredEnv('BIGQUERY_EMULATOR_HOST')}`,
    storageWriteEndpoint: requiredEnv('BIGQUERY_STORAGE_EMULATOR_HOST'),
  };
}

/** REST and Storage Write clients on the emulator, usable under jest. */
export function emulatorBigqueryClients(dataset: string): BigQueryClients {
  return createBigQueryClients(emulatorBigqueryConfig(dataset), BIGQUERY_TEST_PROJECT, nativeBigQuerySdk);
}

/**
 * Merge mode, the one the emulator can run (it implements no change data capture: it appends
 * CDC rows as plain ones). Tests that read `_current` call `compactCurrent` first, or pass
 * `compactEveryMs`.
 */
export const EMULATOR_CURRENT_OPTIONS: CurrentOptions = { ...DEFAULT_CURRENT_OPTIONS, mode: 'merge' };

export function openEmulatorWarehouse(
  dataset: string,
  options: Partial<BigQueryWarehouseOptions> = {},
): BigQueryWarehouse {
  const { bigquery, writer } = emulatorBigqueryClients(dataset);
  return new BigQueryWarehouse(bigquery, writer, {
    projectId: BIGQUERY_TEST_PROJECT,
    dataset,
    location: 'US',
    current: () => EMULATOR_CURRENT_OPTIONS,
    ...options,
  });
}

function requiredEnv(name: string): string {
  const value = process.env[name];
  if (value === undefined || value === '')
    throw new Error(`${name} is not set: tests/global-setup.ts starts the emulator`);
  return value;
}
