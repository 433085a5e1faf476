import { randomUUID } from 'node:crypto';
import type { TableMetadata } from '@google-cloud/bigquery';
import type { BigQueryClients, BigQueryWarehouse } from '@changefeed/shared/adapters/gcp';
import { referenceLoaderContract } from '../../contract/reference-loader.contract';
import { runLogContract } from '../../contract/run-log.contract';
import { emulatorBigqueryClients, openEmulatorWarehouse } from '../../support/bigquery-emulator-clients';

/**
 * The reference-loader and run-log contracts on BigQuery: bqemulator over the wire, one dataset
 * per run of this file, a warehouse per test. Table metadata is read through the REST API (the
 * emulator cannot combine INFORMATION_SCHEMA with a default dataset).
 */
const dataset = `contract_${randomUUID().replaceAll('-', '').slice(0, 10)}`;
let admin: BigQueryClients;

beforeAll(() => {
  admin = emulatorBigqueryClients(dataset);
});

afterAll(async () => {
  admin.writer.close();
  await admin.writer.getClient().close();
});

const open = (): BigQueryWarehouse => openEmulatorWarehouse(dataset);
const close = (warehouse: BigQueryWarehouse): Promise<void> => warehouse.close();

/** The table's metadata, or undefined before the dataset or the table exists. */
async function metadata(table: string): Promise<TableMetadata | undefined> {
  const [datasetExists] = await admin.bigquery.dataset(dataset).exists();
  if (!datasetExists) return undefined;
  const ref = admin.bigquery.dataset(dataset).table(table);
  const [tableExists] = await ref.exists();
  if (!tableExists) return undefined;
  const [found] = (await ref.getMetadata()) as [TableMetadata, unknown];
  return found;
}

referenceLoaderContract('BigQueryWarehouse', {
  open,
  close,
  rows: async (warehouse, table) =>
    (await metadata(table)) === undefined ? null : warehouse.query(`SELECT * FROM \`${table}\``),
  columns: async (_warehouse, table) => {
    const found = await metadata(table);
    return found === undefined ? null : (found.schema?.fields ?? []).map((f) => String(f.name));
  },
  // A key that cannot be a BigQuery column name.
  unloadable: [{ id: 3, 'not a column': true }],
});

runLogContract('BigQueryWarehouse', {
  open,
  close,
  runs: (warehouse, runIds) =>
    warehouse.query(`SELECT * FROM _runs WHERE run_id IN (${runIds.map((id) => `'${id}'`).join(', ')})`),
});
