import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { DuckDbWarehouse } from '@changefeed/shared/adapters/local';
import type { ChangeRow } from '@changefeed/shared/ports';
import { changeRow } from '../../contract/row-sink.contract';
import { randomChangeStream, shuffledBatches, mulberry32 } from '../../support/change-streams';

/**
 * The definition `_current` had as a view (two window functions over the whole history), kept
 * here as the oracle: the maintained table must always hold exactly what it would show.
 */
function oracleSql(table: string): string {
  return `WITH unique_events AS (
  SELECT * FROM "${table}_changes"
  QUALIFY row_number() OVER (PARTITION BY event_id ORDER BY ingested_at, message_id) = 1
), latest AS (
  SELECT * FROM unique_events
  QUALIFY row_number() OVER (PARTITION BY source, entity_id ORDER BY version DESC, event_time DESC, event_id) = 1
)
SELECT entity_id, version, data, event_id, event_time, source FROM latest WHERE event_type <> 'deleted'`;
}

let dir: string;
let files = 0;

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'changefeed-current-test-'));
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const newFile = (): string => path.join(dir, `w-${++files}.duckdb`);

async function currentAndOracle(
  warehouse: DuckDbWarehouse,
  table: string,
): Promise<[Record<string, unknown>[], Record<string, unknown>[]]> {
  const current = await warehouse.query(`SELECT * FROM "${table}_current" ORDER BY source, entity_id`);
  const oracle = await warehouse.query(`SELECT * FROM (${oracleSql(table)}) ORDER BY source, entity_id`);
  return [current, oracle];
}

describe('DuckDB <table>_current, a maintained table', () => {
  let warehouse: DuckDbWarehouse;

  beforeEach(async () => {
    warehouse = await DuckDbWarehouse.open(newFile());
  });

  afterEach(() => warehouse.close());

  it('is a table, not a view, with exactly the documented columns', async () => {
    await warehouse.appendChanges('carts', [changeRow('carts', { entity: 'a', version: 1 })]);
    const kinds = await warehouse.query(
      "SELECT table_name, table_type FROM information_schema.tables WHERE table_name IN ('carts_current', 'carts_history') ORDER BY table_name",
    );
    expect(kinds).toEqual([
      { table_name: 'carts_current', table_type: 'BASE TABLE' },
      { table_name: 'carts_history', table_type: 'VIEW' },
    ]);
    const columns = await warehouse.query(
      "SELECT column_name FROM information_schema.columns WHERE table_name = 'carts_current' ORDER BY ordinal_position",
    );
    expect(columns.map((c) => c['column_name'])).toEqual([
      'entity_id',
      'version',
      'data',
      'event_id',
      'event_time',
      'source',
    ]);
  });

  it('an older update delivered after a newer deletion does not bring the entity back', async () => {
    await warehouse.appendChanges('carts', [changeRow('carts', { entity: 'a', version: 1 })]);
    await warehouse.appendChanges('carts', [changeRow('carts', { entity: 'a', version: 3, type: 'deleted' })]);
    await warehouse.appendChanges('carts', [changeRow('carts', { entity: 'a', version: 2 })]);
    expect(await warehouse.query('SELECT entity_id FROM carts_current')).toEqual([]);
    // A re-creation continues the version sequence, so it is later than the tombstone.
    await warehouse.appendChanges('carts', [changeRow('carts', { entity: 'a', version: 4, type: 'created' })]);
    expect(await warehouse.query('SELECT entity_id, version FROM carts_current')).toEqual([
      { entity_id: 'a', version: 4 },
    ]);
  });

  it('several events of one entity in one batch resolve to the latest, in any order', async () => {
    await warehouse.appendChanges('carts', [
      changeRow('carts', { entity: 'a', version: 3 }),
      changeRow('carts', { entity: 'a', version: 1 }),
      changeRow('carts', { entity: 'a', version: 2 }),
      changeRow('carts', { entity: 'b', version: 2, type: 'deleted' }),
      changeRow('carts', { entity: 'b', version: 1 }),
    ]);
    expect(await warehouse.query('SELECT entity_id, version FROM carts_current ORDER BY entity_id')).toEqual([
      { entity_id: 'a', version: 3 },
    ]);
  });

  it('a failed append changes neither the history nor _current', async () => {
    await warehouse.appendChanges('carts', [changeRow('carts', { entity: 'a', version: 1 })]);
    const bad: ChangeRow = { ...changeRow('carts', { entity: 'a', version: 2 }), data: '{not json' };
    await expect(
      warehouse.appendChanges('carts', [changeRow('carts', { entity: 'b', version: 1 }), bad]),
    ).rejects.toMatchObject({ code: 'WAREHOUSE.INVALID_ROW' });
    expect(await warehouse.query('SELECT entity_id, version FROM carts_current')).toEqual([
      { entity_id: 'a', version: 1 },
    ]);
    expect(await warehouse.query('SELECT count(*) AS n FROM carts_changes')).toEqual([{ n: 1 }]);
    // The rollback took nothing the next append needs with it.
    await warehouse.appendChanges('carts', [changeRow('carts', { entity: 'b', version: 1 })]);
    expect(await warehouse.query('SELECT entity_id, version FROM carts_current ORDER BY entity_id')).toEqual([
      { entity_id: 'a', version: 1 },
      { entity_id: 'b', version: 1 },
    ]);
  });

  // Property: whatever the order, duplication and batching of a stream of events, the maintained
  // table equals the old view over the same history.
  for (const seed of [1, 2, 3, 4, 5, 6, 7, 8]) {
    it(`random streams delivered shuffled, duplicated and in random batches match the view (seed ${seed})`, async () => {
      const random = mulberry32(seed);
      const events = randomChangeStream('carts', random, { entities: 40, maxEventsPerEntity: 8 });
      for (const batch of shuffledBatches(events, random, { duplicateShare: 0.2, maxBatch: 25 })) {
        await warehouse.appendChanges('carts', batch);
      }
      const [current, oracle] = await currentAndOracle(warehouse, 'carts');
      expect(oracle.length).toBeGreaterThan(0);
      expect(current).toEqual(oracle);
    });
  }
});

describe('DuckDB data directories from before the maintained table', () => {
  it('a _current view is migrated to a table built from the history, on first use', async () => {
    const file = newFile();
    const seedRows = [
      changeRow('carts', { entity: 'a', version: 1 }),
      changeRow('carts', { entity: 'a', version: 2 }),
      changeRow('carts', { entity: 'b', version: 1 }),
      changeRow('carts', { entity: 'b', version: 2, type: 'deleted' }),
      changeRow('carts', { entity: 'c', version: 1 }),
    ];
    // Build the old layout: the history table and the view over it, as earlier releases left it.
    const old = await DuckDbWarehouse.open(file);
    await old.appendChanges('carts', seedRows);
    await old.query('DROP TABLE carts_current');
    await old.query(`CREATE VIEW carts_current AS ${oracleSql('carts')}`);
    await old.query('DROP TABLE _changefeed_carts_tombstones');
    await old.close();

    const warehouse = await DuckDbWarehouse.open(file);
    try {
      // The deletion of b is remembered through the migration: its older update cannot revive it.
      await warehouse.appendChanges('carts', [changeRow('carts', { entity: 'b', version: 1, at: 99 })]);
      const kind = await warehouse.query(
        "SELECT table_type FROM information_schema.tables WHERE table_name = 'carts_current'",
      );
      expect(kind).toEqual([{ table_type: 'BASE TABLE' }]);
      expect(await warehouse.query('SELECT entity_id, version FROM carts_current ORDER BY entity_id')).toEqual([
        { entity_id: 'a', version: 2 },
        { entity_id: 'c', version: 1 },
      ]);
    } finally {
      await warehouse.close();
    }
  });
});

describe('DuckDB <table>_history and as-of queries', () => {
  let warehouse: DuckDbWarehouse;

  beforeEach(async () => {
    warehouse = await DuckDbWarehouse.open(newFile());
    // a: v1 at T0+1s, v2 at +2s, deleted at +5s; b: v1 at +3s; T0 = 2024-06-01T00:00:00Z.
    await warehouse.appendChanges('carts', [
      changeRow('carts', { entity: 'a', version: 1, at: 1 }),
      changeRow('carts', { entity: 'a', version: 2, at: 2 }),
      changeRow('carts', { entity: 'b', version: 1, at: 3 }),
      changeRow('carts', { entity: 'a', version: 3, at: 5, type: 'deleted' }),
      // A redelivery counts once.
      changeRow('carts', { entity: 'b', version: 1, at: 3 }),
    ]);
  });

  afterEach(() => warehouse.close());

  it('holds one row per version, closed by the next version or the deletion', async () => {
    const rows = await warehouse.query(
      'SELECT entity_id, version, valid_from, valid_to, is_current FROM carts_history ORDER BY entity_id, version',
    );
    expect(rows).toEqual([
      {
        entity_id: 'a',
        version: 1,
        valid_from: '2024-06-01T00:00:01.000Z',
        valid_to: '2024-06-01T00:00:02.000Z',
        is_current: false,
      },
      {
        entity_id: 'a',
        version: 2,
        valid_from: '2024-06-01T00:00:02.000Z',
        valid_to: '2024-06-01T00:00:05.000Z',
        is_current: false,
      },
      { entity_id: 'b', version: 1, valid_from: '2024-06-01T00:00:03.000Z', valid_to: null, is_current: true },
    ]);
  });

  it('the README as-of queries give an entity, and the whole table, as they were at a time', async () => {
    // The state of entity a at T0+4s (README: "The state of one entity at a time").
    const entityAt = await warehouse.query(`SELECT version FROM carts_history
      WHERE entity_id = 'a' AND valid_from <= TIMESTAMPTZ '2024-06-01 00:00:04+00'
        AND (valid_to IS NULL OR valid_to > TIMESTAMPTZ '2024-06-01 00:00:04+00')`);
    expect(entityAt).toEqual([{ version: 2 }]);
    // The whole table at T0+2.5s and at T0+6s (README: "The whole table as of a time").
    const tableAt = (t: string): Promise<Record<string, unknown>[]> =>
      warehouse.query(`SELECT entity_id, version FROM carts_history
        WHERE valid_from <= TIMESTAMPTZ '${t}' AND (valid_to IS NULL OR valid_to > TIMESTAMPTZ '${t}')
        ORDER BY entity_id`);
    expect(await tableAt('2024-06-01 00:00:02.5+00')).toEqual([{ entity_id: 'a', version: 2 }]);
    expect(await tableAt('2024-06-01 00:00:06+00')).toEqual([{ entity_id: 'b', version: 1 }]);
  });
});
