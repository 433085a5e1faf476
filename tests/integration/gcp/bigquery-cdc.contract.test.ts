import { randomUUID } from 'node:crypto';
import type { TableMetadata } from '@google-cloud/bigquery';
import { BigQueryWarehouse, createBigQueryClients, type BigQueryClients } from '@changefeed/shared/adapters/gcp';
import type { ChangeRow, EventType } from '@changefeed/shared/ports';
import { nativeBigQuerySdk } from '../../support/bigquery-emulator-clients';

/**
 * `<table>_current` in cdc mode against real BigQuery: no emulator implements the Storage Write
 * API's change data capture (the emulator appends CDC rows as plain ones), so this runs only
 * when a project and credentials are given, and is reported skipped otherwise, naming what it
 * needs. It creates a dataset of its own and deletes it afterwards.
 *
 *   CHANGEFEED_BIGQUERY_CONTRACT_PROJECT=my-project \
 *   GOOGLE_APPLICATION_CREDENTIALS=/path/to/key.json \
 *   npx jest tests/integration/gcp/bigquery-cdc.contract.test.ts
 */
const REQUIRED = ['CHANGEFEED_BIGQUERY_CONTRACT_PROJECT', 'GOOGLE_APPLICATION_CREDENTIALS'] as const;
const missing = REQUIRED.filter((name) => (process.env[name] ?? '') === '');
const describeWithBigQuery = missing.length === 0 ? describe : describe.skip;
const title =
  missing.length === 0
    ? 'BigQuery _current by change data capture (real BigQuery)'
    : `BigQuery _current by change data capture (real BigQuery) — skipped: set ${missing.join(' and ')}`;

const T0 = Date.parse('2024-06-01T00:00:00.000Z');

function change(table: string, entity: string, version: number, type: EventType): ChangeRow {
  const at = new Date(T0 + version * 1000);
  return {
    event_id: `${entity}-${version}-${type}`,
    event_type: type,
    source: table,
    entity_id: entity,
    version,
    data: type === 'deleted' ? null : JSON.stringify({ id: entity, version }),
    event_time: at,
    publish_time: at,
    ingested_at: new Date(),
    delivery_attempt: 1,
    message_id: `m-${randomUUID()}`,
  };
}

describeWithBigQuery(title, () => {
  const projectId = process.env['CHANGEFEED_BIGQUERY_CONTRACT_PROJECT'] ?? '';
  const location = process.env['CHANGEFEED_BIGQUERY_CONTRACT_LOCATION'] ?? 'US';
  const dataset = `changefeed_contract_${randomUUID().replaceAll('-', '').slice(0, 10)}`;
  let clients: BigQueryClients;
  let warehouse: BigQueryWarehouse;

  beforeAll(() => {
    clients = createBigQueryClients({ dataset, location }, projectId, nativeBigQuerySdk);
    // max staleness 0: every query merges the changes BigQuery has not applied yet, so what it
    // reads right after an append is the final state.
    warehouse = new BigQueryWarehouse(clients.bigquery, clients.writer, {
      projectId,
      dataset,
      location,
      current: () => ({ mode: 'cdc', maxStalenessMs: 0, compactEveryMs: 60_000 }),
    });
  });
  afterAll(async () => {
    await warehouse.close();
    await clients.bigquery.dataset(dataset).delete({ force: true });
  });

  it('an older or redelivered event never replaces a newer one, and a deletion removes the row', async () => {
    const table = 'carts';
    // Delivered newest first, with a redelivery: the sequence number decides, not arrival.
    await warehouse.appendChanges(table, [
      change(table, 'a', 3, 'updated'),
      change(table, 'b', 2, 'deleted'),
      change(table, 'c', 1, 'created'),
    ]);
    await warehouse.appendChanges(table, [
      change(table, 'a', 1, 'created'),
      change(table, 'a', 2, 'updated'),
      change(table, 'b', 1, 'created'),
      change(table, 'c', 1, 'created'),
    ]);
    const rows = await warehouse.query(`SELECT entity_id, version FROM \`${table}_current\` ORDER BY entity_id`);
    expect(rows).toEqual([
      { entity_id: 'a', version: 3 },
      { entity_id: 'c', version: 1 },
    ]);
    const [metadata] = (await clients.bigquery.dataset(dataset).table(`${table}_current`).getMetadata()) as [
      TableMetadata,
      unknown,
    ];
    expect(metadata.tableConstraints).toEqual({
      primaryKey: { columns: ['source', 'entity_id'] },
    });
  }, 120_000);

  it('a record too large for an AppendRows request: in _changes whole, in _current by its version without its data; an older event never replaces it, a newer one does', async () => {
    const table = 'blobs';
    const big = { ...change(table, 'big', 2, 'updated'), data: JSON.stringify({ id: 'big', blob: 'x'.repeat(13e6) }) };
    await warehouse.appendChanges(table, [change(table, 'a', 1, 'created'), big]);
    await warehouse.appendChanges(table, [change(table, 'big', 1, 'created')]);
    expect(
      await warehouse.query(`SELECT entity_id, version, event_id, data FROM \`${table}_current\` ORDER BY entity_id`),
    ).toEqual([
      { entity_id: 'a', version: 1, event_id: 'a-1-created', data: { id: 'a', version: 1 } },
      { entity_id: 'big', version: 2, event_id: big.event_id, data: null },
    ]);
    expect(
      await warehouse.query(
        `SELECT LENGTH(JSON_VALUE(data, '$.blob')) AS chars FROM \`${table}_changes\` WHERE event_id = '${big.event_id}'`,
      ),
    ).toEqual([{ chars: 13e6 }]);
    await warehouse.appendChanges(table, [change(table, 'big', 3, 'updated')]);
    expect(await warehouse.query(`SELECT version, data FROM \`${table}_current\` WHERE entity_id = 'big'`)).toEqual([
      { version: 3, data: { id: 'big', version: 3 } },
    ]);
  }, 300_000);
});
