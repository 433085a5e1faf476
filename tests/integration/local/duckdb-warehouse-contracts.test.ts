import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { DuckDbWarehouse } from '@changefeed/shared/adapters/local';
import { referenceLoaderContract } from '../../contract/reference-loader.contract';
import { runLogContract } from '../../contract/run-log.contract';

/** The reference-loader and run-log contracts on DuckDB: a file of its own per test. */
let dir: string;
let files = 0;

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'changefeed-duckdb-contracts-'));
});

afterAll(() => rm(dir, { recursive: true, force: true }));

const open = (): Promise<DuckDbWarehouse> => DuckDbWarehouse.open(path.join(dir, `warehouse-${++files}.duckdb`));
const close = (warehouse: DuckDbWarehouse): Promise<void> => warehouse.close();
const quoted = (name: string): string => `"${name.replaceAll('"', '""')}"`;

async function exists(warehouse: DuckDbWarehouse, table: string): Promise<boolean> {
  const found = await warehouse.query(`SELECT 1 FROM duckdb_tables() WHERE table_name = '${table}'`);
  return found.length > 0;
}

referenceLoaderContract('DuckDbWarehouse', {
  open,
  close,
  rows: async (warehouse, table) =>
    (await exists(warehouse, table)) ? warehouse.query(`SELECT * FROM ${quoted(table)}`) : null,
  columns: async (warehouse, table) =>
    (await exists(warehouse, table))
      ? (await warehouse.query(`DESCRIBE ${quoted(table)}`)).map((c) => String(c['column_name']))
      : null,
  // Records without a single key leave read_json no column to infer.
  unloadable: [{}, {}],
});

runLogContract('DuckDbWarehouse', {
  open,
  close,
  runs: (warehouse, runIds) =>
    warehouse.query(`SELECT * FROM _runs WHERE run_id IN (${runIds.map((id) => `'${id}'`).join(', ')})`),
});
