import { randomUUID } from 'node:crypto';
import type { TableMetadata } from '@google-cloud/bigquery';
import type { BigQueryClients, BigQueryWarehouse } from '@changefeed/shared/adapters/gcp';
import { AppError } from '@changefeed/shared/errors';
import type { ChangeRow, RunRecord } from '@changefeed/shared/ports';
import { changeRow, rowSinkContract, type CurrentRow } from '../../contract/row-sink.contract';
import { emulatorBigqueryClients, openEmulatorWarehouse } from '../../support/bigquery-emulator-clients';

/**
 * The BigQuery warehouse against bqemulator (REST and Storage Write gRPC) over the wire, with the
 * official clients unchanged; the endpoints come from the variables the test setup exports.
 */
/** One dataset per run of this file; each test writes its own tables in it. */
const dataset = `it_${randomUUID().replaceAll('-', '').slice(0, 10)}`;

function openWarehouse(): BigQueryWarehouse {
  return openEmulatorWarehouse(dataset);
}

async function rejection(promise: Promise<unknown>): Promise<AppError> {
  const error: unknown = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(AppError);
  return error as AppError;
}

/** A table name no other test uses. */
function uniqueTable(prefix: string): string {
  return `${prefix}_${randomUUID().replaceAll('-', '').slice(0, 8)}`;
}

// Merge mode: `_current` is what the last compaction made it, so the contract reads it after one.
rowSinkContract('BigQueryWarehouse (current: merge)', openWarehouse, async (warehouse, table) => {
  await warehouse.compactCurrent(table);
  return (
    await warehouse.query(`SELECT entity_id, version, data, event_id FROM \`${table}_current\` ORDER BY entity_id`)
  ).map((r) => r as unknown as CurrentRow);
});

describe('BigQueryWarehouse', () => {
  let warehouse: BigQueryWarehouse;
  /** Reads table metadata through the REST API (the emulator cannot combine INFORMATION_SCHEMA with a default dataset). */
  let admin: BigQueryClients;

  beforeAll(() => {
    admin = emulatorBigqueryClients(dataset);
  });

  afterAll(async () => {
    admin.writer.close();
    await admin.writer.getClient().close();
  });

  const tableExists = async (table: string): Promise<boolean> =>
    (await admin.bigquery.dataset(dataset).table(table).exists())[0];

  const columnNames = async (table: string): Promise<unknown[]> => {
    const [metadata] = (await admin.bigquery.dataset(dataset).table(table).getMetadata()) as [TableMetadata, unknown];
    return (metadata.schema?.fields ?? []).map((f) => f.name);
  };

  beforeEach(() => {
    warehouse = openWarehouse();
  });

  afterEach(() => warehouse.close());

  const count = async (table: string): Promise<unknown> =>
    (await warehouse.query(`SELECT COUNT(*) AS n FROM \`${table}\``))[0]?.['n'];

  describe('appendChanges', () => {
    it('_changes keeps every column as received', async () => {
      const table = uniqueTable('carts');
      const row: ChangeRow = {
        ...changeRow(table, { entity: 'c1', version: 3, data: { id: 'c1', items: [1, 2] } }),
        delivery_attempt: 2,
      };
      await warehouse.appendChanges(table, [row]);
      expect(await warehouse.query(`SELECT * FROM \`${table}_changes\``)).toEqual([
        {
          event_id: row.event_id,
          event_type: 'updated',
          source: table,
          entity_id: 'c1',
          version: 3,
          data: { id: 'c1', items: [1, 2] },
          event_time: row.event_time.toISOString(),
          publish_time: row.publish_time.toISOString(),
          ingested_at: row.ingested_at.toISOString(),
          delivery_attempt: 2,
          message_id: row.message_id,
        },
      ]);
    });

    it('creates _changes partitioned by day on event_time and clustered by entity_id', async () => {
      const table = uniqueTable('carts');
      await warehouse.appendChanges(table, [changeRow(table, { entity: 'a', version: 1 })]);
      const [metadata] = (await admin.bigquery.dataset(dataset).table(`${table}_changes`).getMetadata()) as [
        TableMetadata,
        unknown,
      ];
      expect(metadata).toMatchObject({
        timePartitioning: { type: 'DAY', field: 'event_time' },
        clustering: { fields: ['entity_id'] },
      });
    });

    it('more than 10 MB in one call is split into requests under the AppendRows limit, and all rows land', async () => {
      const table = uniqueTable('blobs');
      // 24 rows of 512 KiB: 12 MiB, above both the API's 10 MB and the emulator's gRPC message limit.
      const payload = 'x'.repeat(512 * 1024);
      const rows = Array.from({ length: 24 }, (_, i) =>
        changeRow(table, { entity: `e${i}`, version: 1, data: { id: `e${i}`, payload } }),
      );
      await warehouse.appendChanges(table, rows);
      expect(
        await warehouse.query(
          `SELECT COUNT(*) AS n, SUM(LENGTH(JSON_VALUE(data, '$.payload'))) AS chars FROM \`${table}_changes\``,
        ),
      ).toEqual([{ n: 24, chars: 24 * payload.length }]);
    });

    it('a row that can never be stored refuses the whole call before anything is written', async () => {
      const table = uniqueTable('carts');
      await warehouse.appendChanges(table, [changeRow(table, { entity: 'kept', version: 1 })]);
      const rows = [
        changeRow(table, { entity: 'a', version: 1 }),
        { ...changeRow(table, { entity: 'b', version: 1 }), data: '{"cut":' },
      ];

      const error = await rejection(warehouse.appendChanges(table, rows));

      expect(error).toMatchObject({ code: 'WAREHOUSE.INVALID_ROW', retryable: false });
      expect(error.message).toContain(`${table}_changes row 1`);
      expect(await count(`${table}_changes`)).toBe(1);
    });

    it('a version that is not an integer is refused as an invalid row', async () => {
      const table = uniqueTable('carts');
      const error = await rejection(warehouse.appendChanges(table, [changeRow(table, { entity: 'a', version: 1.5 })]));
      expect(error).toMatchObject({ code: 'WAREHOUSE.INVALID_ROW', retryable: false });
    });

    it('a row larger than BigQuery stores at all is refused before anything is written, not retried', async () => {
      const table = uniqueTable('blobs');
      // Limits lowered so the test builds kilobytes, not 100 MiB: a row over both is refused.
      const small = openEmulatorWarehouse(dataset, { maxAppendRequestBytes: 16 * 1024, maxLoadRowBytes: 64 * 1024 });
      try {
        const rows = [
          changeRow(table, { entity: 'a', version: 1 }),
          changeRow(table, { entity: 'b', version: 1, data: { blob: 'x'.repeat(100 * 1024) } }),
        ];
        const error = await rejection(small.appendChanges(table, rows));
        expect(error).toMatchObject({ code: 'WAREHOUSE.ROW_TOO_LARGE', retryable: false });
        expect(error.message).toContain(`${table}_changes row 1`);
        expect(await tableExists(`${table}_changes`)).toBe(false);
      } finally {
        await small.close();
      }
    });

    describe('a record larger than one AppendRows request (the claim check brings up to 100 MiB)', () => {
      const BIG_CHARS = 13 * 1000 * 1000;
      const bigData = (tag: string): { id: string; tag: string; blob: string } => ({
        id: 'big',
        tag,
        blob: 'x'.repeat(BIG_CHARS),
      });

      it('merge mode: lands in _changes by a load job and in _current with its version; small rows are unaffected, and an older event after it does not replace it', async () => {
        const table = uniqueTable('blobs');
        const current = (): Promise<Record<string, unknown>[]> =>
          warehouse.query(
            `SELECT entity_id, version, JSON_VALUE(data, '$.tag') AS tag, LENGTH(JSON_VALUE(data, '$.blob')) AS chars, JSON_VALUE(data, '$.v') AS v FROM \`${table}_current\` ORDER BY entity_id`,
          );
        const expected = [
          { entity_id: 'a', version: 1, tag: null, chars: null, v: '1' },
          { entity_id: 'b', version: 2, tag: null, chars: null, v: '2' },
          { entity_id: 'big', version: 3, tag: 'v3', chars: BIG_CHARS, v: null },
        ];

        // A 13 MB record among small ones.
        await warehouse.appendChanges(table, [
          changeRow(table, { entity: 'a', version: 1 }),
          changeRow(table, { entity: 'big', version: 3, data: bigData('v3') }),
          changeRow(table, { entity: 'b', version: 2 }),
        ]);
        await warehouse.compactCurrent(table);
        expect(await current()).toEqual(expected);

        // Then an older, small event of the big entity, as an out-of-order redelivery brings it.
        await warehouse.appendChanges(table, [changeRow(table, { entity: 'big', version: 2 })]);
        await warehouse.compactCurrent(table);
        expect(await current()).toEqual(expected);

        expect(
          await warehouse.query(
            `SELECT entity_id, version, LENGTH(JSON_VALUE(data, '$.blob')) AS chars FROM \`${table}_changes\` ORDER BY entity_id, version`,
          ),
        ).toEqual([
          { entity_id: 'a', version: 1, chars: null },
          { entity_id: 'b', version: 2, chars: null },
          { entity_id: 'big', version: 2, chars: null },
          { entity_id: 'big', version: 3, chars: BIG_CHARS },
        ]);
      });

      it('merge mode: a newer small event replaces it in _current', async () => {
        const table = uniqueTable('blobs');
        await warehouse.appendChanges(table, [changeRow(table, { entity: 'big', version: 1, data: bigData('v1') })]);
        await warehouse.appendChanges(table, [changeRow(table, { entity: 'big', version: 2 })]);
        await warehouse.compactCurrent(table);
        expect(await warehouse.query(`SELECT entity_id, version, data FROM \`${table}_current\``)).toEqual([
          { entity_id: 'big', version: 2, data: { id: 'big', v: 2 } },
        ]);
      });

      it('cdc mode: _current gets its key, version and event id without the record (CDC rows travel in one request); _changes has it whole', async () => {
        const table = uniqueTable('blobs');
        // The emulator appends CDC rows as plain rows: this shows what _current is sent, not how BigQuery applies it.
        const cdc = openEmulatorWarehouse(dataset, {
          current: () => ({ mode: 'cdc', maxStalenessMs: 0, compactEveryMs: 60_000 }),
        });
        try {
          const big = changeRow(table, { entity: 'big', version: 3, data: bigData('v3') });
          await cdc.appendChanges(table, [changeRow(table, { entity: 'a', version: 1 }), big]);
          expect(
            await cdc.query(`SELECT entity_id, version, event_id, data FROM \`${table}_current\` ORDER BY entity_id`),
          ).toEqual([
            { entity_id: 'a', version: 1, event_id: `${table}/a/1/created`, data: { id: 'a', v: 1 } },
            { entity_id: 'big', version: 3, event_id: big.event_id, data: null },
          ]);
          expect(
            await cdc.query(
              `SELECT LENGTH(JSON_VALUE(data, '$.blob')) AS chars FROM \`${table}_changes\` WHERE event_id = '${big.event_id}'`,
            ),
          ).toEqual([{ chars: BIG_CHARS }]);
        } finally {
          await cdc.close();
        }
      });
    });

    it('after close, appends are refused', async () => {
      await warehouse.close();
      expect(
        await rejection(warehouse.appendChanges('carts', [changeRow('carts', { entity: 'a', version: 1 })])),
      ).toMatchObject({
        code: 'WAREHOUSE.CLOSED',
      });
    });
  });

  describe('appendRejected and recordRun', () => {
    it('a rejected message is kept with its reason and payload', async () => {
      const messageId = `m-${randomUUID()}`;
      await warehouse.appendRejected([
        {
          message_id: messageId,
          subscription: 'projects/p/subscriptions/s',
          reason: 'missing ce-id',
          payload: '{"message":{}}',
          received_at: new Date('2024-06-01T00:00:00.000Z'),
        },
      ]);
      expect(await warehouse.query(`SELECT * FROM _rejected WHERE message_id = '${messageId}'`)).toEqual([
        {
          message_id: messageId,
          subscription: 'projects/p/subscriptions/s',
          reason: 'missing ce-id',
          payload: '{"message":{}}',
          received_at: '2024-06-01T00:00:00.000Z',
        },
      ]);
    });

    it('a run record is stored with its details as JSON', async () => {
      const run: RunRecord = {
        runId: `run-${randomUUID()}`,
        source: 'carts',
        kind: 'poll',
        startedAt: new Date('2024-06-01T00:00:00.000Z'),
        endedAt: new Date('2024-06-01T00:00:01.500Z'),
        rowsRead: 10,
        rowsWritten: 3,
        status: 'failed',
        error: 'source answered 503',
        details: { created: 1, updated: 2 },
      };
      await warehouse.recordRun(run);
      expect(await warehouse.query(`SELECT * FROM _runs WHERE run_id = '${run.runId}'`)).toEqual([
        {
          run_id: run.runId,
          source: 'carts',
          kind: 'poll',
          started_at: '2024-06-01T00:00:00.000Z',
          ended_at: '2024-06-01T00:00:01.500Z',
          rows_read: 10,
          rows_written: 3,
          status: 'failed',
          error: 'source answered 503',
          details: { created: 1, updated: 2 },
        },
      ]);
    });
  });

  describe('replaceTable', () => {
    it('replaces the whole table, schema included; columns come from every record, missing keys are NULL', async () => {
      const table = uniqueTable('products');
      await warehouse.replaceTable(table, [{ id: 'one', old: true }]);
      const written = await warehouse.replaceTable(table, [
        { id: 1, name: 'pen' },
        { id: 2, tags: ['a', 'b'], dims: { w: 1.5 } },
      ]);
      expect(written).toBe(2);
      expect(await warehouse.query(`SELECT * EXCEPT (_loaded_at) FROM \`${table}\` ORDER BY id`)).toEqual([
        { id: 1, name: 'pen', tags: null, dims: null },
        { id: 2, name: null, tags: ['a', 'b'], dims: { w: 1.5 } },
      ]);
    });

    it('every row gets the load time, replacing a record’s own _loaded_at', async () => {
      const table = uniqueTable('products');
      await warehouse.replaceTable(table, [{ id: 1, _loaded_at: 'from the API' }]);
      const [row] = await warehouse.query(`SELECT _loaded_at FROM \`${table}\``);
      expect(Number.isNaN(Date.parse(String(row?.['_loaded_at'])))).toBe(false);
    });

    it('a record that can never be a row leaves the old table whole', async () => {
      const table = uniqueTable('products');
      await warehouse.replaceTable(table, [{ id: 1 }, { id: 2 }]);
      const error = await rejection(warehouse.replaceTable(table, [{ id: 3, 'not a column': true }]));
      expect(error).toMatchObject({ code: 'WAREHOUSE.INVALID_COLUMN', retryable: false });
      expect(await warehouse.query(`SELECT id FROM \`${table}\` ORDER BY id`)).toEqual([{ id: 1 }, { id: 2 }]);
    });

    it('an empty replace empties an existing table and keeps its columns', async () => {
      const table = uniqueTable('products');
      await warehouse.replaceTable(table, [{ id: 1, name: 'pen' }]);
      expect(await warehouse.replaceTable(table, [])).toBe(0);
      expect(await count(table)).toBe(0);
      expect(await columnNames(table)).toEqual(['id', 'name', '_loaded_at']);
    });

    it('an empty replace of a table that does not exist creates nothing', async () => {
      const table = uniqueTable('products');
      expect(await warehouse.replaceTable(table, [])).toBe(0);
      expect(await tableExists(table)).toBe(false);
    });

    it('leaves no staging table behind', async () => {
      const table = uniqueTable('products');
      await warehouse.replaceTable(table, [{ id: 1 }]);
      await warehouse.mergeRecords(table, [{ id: 2 }], 'id');
      const [tables] = await admin.bigquery.dataset(dataset).getTables();
      expect(tables.map((t) => t.id).filter((id) => id?.startsWith('_changefeed_stage_'))).toEqual([]);
    });
  });

  describe('mergeRecords', () => {
    it('the first merge creates the table', async () => {
      const table = uniqueTable('products');
      expect(await warehouse.mergeRecords(table, [{ id: 1, name: 'pen' }], 'id')).toBe(1);
      expect(await warehouse.query(`SELECT id, name FROM \`${table}\``)).toEqual([{ id: 1, name: 'pen' }]);
    });

    it('replaces rows whose key exists and appends the rest', async () => {
      const table = uniqueTable('products');
      await warehouse.mergeRecords(
        table,
        [
          { id: 1, name: 'pen' },
          { id: 2, name: 'ink' },
        ],
        'id',
      );
      const written = await warehouse.mergeRecords(
        table,
        [
          { id: 2, name: 'blue ink' },
          { id: 3, name: 'paper' },
        ],
        'id',
      );
      expect(written).toBe(2);
      expect(await warehouse.query(`SELECT id, name FROM \`${table}\` ORDER BY id`)).toEqual([
        { id: 1, name: 'pen' },
        { id: 2, name: 'blue ink' },
        { id: 3, name: 'paper' },
      ]);
    });

    it('upserts by a nested key such as data.id', async () => {
      const table = uniqueTable('users');
      await warehouse.mergeRecords(
        table,
        [{ data: { id: 'u1', name: 'Ann' } }, { data: { id: 'u2', name: 'Bo' } }],
        'data.id',
      );
      await warehouse.mergeRecords(table, [{ data: { id: 'u2', name: 'Bob' } }], 'data.id');
      expect(await warehouse.query(`SELECT data FROM \`${table}\` ORDER BY JSON_VALUE(data, '$.id')`)).toEqual([
        { data: { id: 'u1', name: 'Ann' } },
        { data: { id: 'u2', name: 'Bob' } },
      ]);
    });

    it('a column that appears in a later merge is added; older rows have NULL there', async () => {
      const table = uniqueTable('products');
      await warehouse.mergeRecords(table, [{ id: 1, name: 'pen' }], 'id');
      await warehouse.mergeRecords(table, [{ id: 2, name: 'ink', color: 'blue' }], 'id');
      expect(await warehouse.query(`SELECT id, name, color FROM \`${table}\` ORDER BY id`)).toEqual([
        { id: 1, name: 'pen', color: null },
        { id: 2, name: 'ink', color: 'blue' },
      ]);
    });

    it('a column whose values change type is widened so the merge still succeeds', async () => {
      const table = uniqueTable('products');
      await warehouse.mergeRecords(table, [{ id: 1, size: 42, weight: 1 }], 'id');
      await warehouse.mergeRecords(table, [{ id: 2, size: 'XL', weight: 2.5 }], 'id');
      expect(await warehouse.query(`SELECT id, size, weight FROM \`${table}\` ORDER BY id`)).toEqual([
        { id: 1, size: '42', weight: 1 },
        { id: 2, size: 'XL', weight: 2.5 },
      ]);
    });

    it('within one merge the last record with a key wins', async () => {
      const table = uniqueTable('products');
      const written = await warehouse.mergeRecords(
        table,
        [
          { id: 1, name: 'first' },
          { id: 1, name: 'second' },
        ],
        'id',
      );
      expect(written).toBe(1);
      expect(await warehouse.query(`SELECT name FROM \`${table}\``)).toEqual([{ name: 'second' }]);
    });

    it('an empty merge writes nothing and creates nothing', async () => {
      const table = uniqueTable('products');
      expect(await warehouse.mergeRecords(table, [], 'id')).toBe(0);
      expect(await tableExists(table)).toBe(false);
    });

    it('a key that is not a dot path is refused', async () => {
      expect(await rejection(warehouse.mergeRecords('products', [{ id: 1 }], 'data..id'))).toMatchObject({
        code: 'WAREHOUSE.INVALID_KEY',
        retryable: false,
      });
    });
  });

  describe('query', () => {
    it('returns JSON-friendly values', async () => {
      const [row] = await warehouse.query(`
        SELECT 42 AS small,
               9007199254740993 AS big,
               TIMESTAMP '2024-06-01 12:30:00.250+00' AS ts,
               DATE '2024-06-01' AS day,
               JSON '{"a":[1,2]}' AS doc,
               [1, 2] AS list,
               STRUCT(1 AS x, 'z' AS y) AS struct,
               NULL AS nothing,
               true AS yes`);
      expect(row).toEqual({
        small: 42,
        big: '9007199254740993',
        ts: '2024-06-01T12:30:00.250Z',
        day: '2024-06-01',
        doc: { a: [1, 2] },
        list: [1, 2],
        struct: { x: 1, y: 'z' },
        nothing: null,
        yes: true,
      });
    });

    it('a query that can never run is a non-retryable WAREHOUSE.QUERY_FAILED', async () => {
      expect(await rejection(warehouse.query('SELECT * FROM no_such_table'))).toMatchObject({
        code: 'WAREHOUSE.QUERY_FAILED',
        retryable: false,
      });
      expect(await rejection(warehouse.query('SELEC 1'))).toMatchObject({
        code: 'WAREHOUSE.QUERY_FAILED',
        retryable: false,
      });
    });
  });
});
