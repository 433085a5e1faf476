import { randomUUID } from 'node:crypto';
import type { TableMetadata } from '@google-cloud/bigquery';
import type { BigQueryClients, BigQueryWarehouse } from '@changefeed/shared/adapters/gcp';
import type { ChangeRow, Clock, EventType } from '@changefeed/shared/ports';
import {
  EMULATOR_CURRENT_OPTIONS,
  emulatorBigqueryClients,
  openEmulatorWarehouse,
} from '../../support/bigquery-emulator-clients';
import { mulberry32 } from '../../support/change-streams';

/**
 * `<table>_current` in merge mode on the BigQuery emulator: the compaction must give, whatever
 * order and however often events arrive and wherever a compaction is cut short, what the view
 * `_current` used to be gives over the same `_changes` (`oracleSql`, kept here as it was).
 */
const dataset = `cur_${randomUUID().replaceAll('-', '').slice(0, 10)}`;

function uniqueTable(prefix: string): string {
  return `${prefix}_${randomUUID().replaceAll('-', '').slice(0, 8)}`;
}

/** The `_current` view as it was before `_current` became a table: two window functions over the whole history. */
function oracleSql(table: string): string {
  return `WITH unique_events AS (
  SELECT * FROM \`${table}_changes\`
  WHERE TRUE
  QUALIFY ROW_NUMBER() OVER (PARTITION BY event_id ORDER BY ingested_at, message_id) = 1
), latest AS (
  SELECT * FROM unique_events
  WHERE TRUE
  QUALIFY ROW_NUMBER() OVER (PARTITION BY source, entity_id ORDER BY version DESC, event_time DESC, event_id) = 1
)
SELECT entity_id, version, data, event_id, event_time, source FROM latest WHERE event_type != 'deleted'
ORDER BY entity_id`;
}

async function currentRows(warehouse: BigQueryWarehouse, table: string): Promise<Record<string, unknown>[]> {
  return warehouse.query(`SELECT * FROM \`${table}_current\` ORDER BY entity_id`);
}

async function expectCurrentMatchesOracle(warehouse: BigQueryWarehouse, table: string): Promise<void> {
  const [current, oracle] = [await currentRows(warehouse, table), await warehouse.query(oracleSql(table))];
  expect(current).toEqual(oracle);
}

const T0 = Date.parse('2024-06-01T00:00:00.000Z');

interface Event {
  readonly entity: string;
  readonly version: number;
  readonly type: EventType;
  readonly atMs: number;
  readonly id: string;
  readonly data: string | null;
}

/** One entity's true history: created, updated, deleted, re-created, and now and then a re-detected change of one version. */
function entityHistory(table: string, entity: string, next: () => number): Event[] {
  const events: Event[] = [];
  let alive = false;
  const length = 1 + Math.floor(next() * 7);
  for (let version = 1; version <= length; version++) {
    const type: EventType = !alive ? 'created' : next() < 0.3 ? 'deleted' : 'updated';
    alive = type !== 'deleted';
    const atMs = T0 + version * 10_000;
    const data = type === 'deleted' ? null : JSON.stringify({ id: entity, v: version });
    events.push({ entity, version, type, atMs, id: `${table}/${entity}/${version}/${type}`, data });
    if (type !== 'deleted' && next() < 0.15) {
      // The same version detected again with other content (a different event id and a later time).
      const redetected = JSON.stringify({ id: entity, v: version, again: true });
      events.push({
        entity,
        version,
        type,
        atMs: atMs + 1_000,
        id: `${table}/${entity}/${version}/again`,
        data: redetected,
      });
    }
  }
  return events;
}

function changeRowOf(table: string, event: Event, ingestedAtMs: number): ChangeRow {
  return {
    event_id: event.id,
    event_type: event.type,
    source: table,
    entity_id: event.entity,
    version: event.version,
    data: event.data,
    event_time: new Date(event.atMs),
    publish_time: new Date(event.atMs + 100),
    ingested_at: new Date(ingestedAtMs),
    delivery_attempt: null,
    message_id: `m-${randomUUID()}`,
  };
}

/** A clock whose sleeps end when the test says so (or when the sleeper aborts). */
function manualClock(): Clock & { wake(): void } {
  const sleepers = new Set<() => void>();
  return {
    now: () => new Date(),
    sleep: (_ms, signal) =>
      new Promise<void>((resolve, reject) => {
        if (signal?.aborted === true) {
          reject(new Error('aborted'));
          return;
        }
        const wake = (): void => {
          sleepers.delete(wake);
          resolve();
        };
        sleepers.add(wake);
        signal?.addEventListener('abort', () => {
          sleepers.delete(wake);
          reject(new Error('aborted'));
        });
      }),
    wake: () => [...sleepers].forEach((w) => w()),
  };
}

/** Polls `check` until it holds; fails after `attempts` tries (a bound, not a timing assertion). */
async function eventually(check: () => Promise<boolean>, what: string, attempts = 200): Promise<void> {
  for (let i = 0; i < attempts; i++) {
    if (await check()) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`never happened: ${what}`);
}

describe('BigQuery <table>_current in merge mode (emulator)', () => {
  let warehouse: BigQueryWarehouse;
  let admin: BigQueryClients;

  beforeAll(() => {
    admin = emulatorBigqueryClients(dataset);
  });
  afterAll(async () => {
    admin.writer.close();
    await admin.writer.getClient().close();
  });
  beforeEach(() => {
    warehouse = openEmulatorWarehouse(dataset);
  });
  afterEach(() => warehouse.close());

  const metadata = async (table: string): Promise<TableMetadata> =>
    ((await admin.bigquery.dataset(dataset).table(table).getMetadata()) as [TableMetadata, unknown])[0];

  it.each([1, 2, 3, 4])(
    'random histories delivered shuffled, with duplicates and late rows, compacted at random points, give the view’s _current (seed %i)',
    async (seed) => {
      const table = uniqueTable('prop');
      const next = mulberry32(seed);
      const events = Array.from({ length: 8 }, (_, i) => entityHistory(table, `e${i}`, next)).flat();
      // Every event once, a fifth of them twice (a redelivery), in a random order.
      const deliveries = [...events, ...events.filter(() => next() < 0.2)]
        .map((event) => ({ event, key: next() }))
        .sort((a, b) => a.key - b.key)
        .map(({ event }) => event);
      // Stamped on receipt, 3 minutes apart and ending now: a compaction reads only the last few
      // deliveries (its window is its watermark less a 10-minute overlap), so an entity's
      // earlier events, deletions included, are known to it only through _current and the
      // tombstones. Now and then a row is stamped minutes before rows already compacted (an
      // append that was in flight), which the overlap must still pick up.
      const spacingMs = 3 * 60_000;
      const baseMs = Date.now() - deliveries.length * spacingMs;
      let delivered = 0;
      while (delivered < deliveries.length) {
        const size = 1 + Math.floor(next() * 4);
        const batch = deliveries
          .slice(delivered, delivered + size)
          .map((event, i) =>
            changeRowOf(table, event, baseMs + (delivered + i) * spacingMs - (next() < 0.1 ? 5 * 60_000 : 0)),
          );
        delivered += batch.length;
        await warehouse.appendChanges(table, batch);
        if (next() < 0.4) await warehouse.compactCurrent(table);
      }
      await warehouse.compactCurrent(table);

      await expectCurrentMatchesOracle(warehouse, table);
      // And the oracle is not trivially empty: some entity is alive at the end.
      expect((await currentRows(warehouse, table)).length).toBeGreaterThan(0);
    },
    120_000,
  );

  it.each([0, 1, 2])(
    'a compaction cut short after %i of its statements leaves _current right after the next run, late stale events included',
    async (ranStatements) => {
      const table = uniqueTable('crash');
      const ev = (entity: string, version: number, type: EventType): Event => ({
        entity,
        version,
        type,
        atMs: T0 + version * 10_000,
        id: `${table}/${entity}/${version}/${type}`,
        data: type === 'deleted' ? null : JSON.stringify({ id: entity, v: version }),
      });
      // Ingested this many minutes ago: the late events below arrive when the ones they are
      // older than have left the compaction's window (the watermark less 10 minutes).
      const append = (minutesAgo: number, list: Event[]): Promise<void> =>
        warehouse.appendChanges(
          table,
          list.map((e) => changeRowOf(table, e, Date.now() - minutesAgo * 60_000)),
        );
      await append(90, [ev('a', 1, 'created'), ev('b', 1, 'created'), ev('c', 1, 'created'), ev('d', 1, 'created')]);
      await warehouse.compactCurrent(table);
      await append(60, [ev('a', 2, 'deleted'), ev('b', 2, 'updated'), ev('c', 3, 'updated'), ev('d', 2, 'deleted')]);

      const plan = await warehouse.planCompaction(table);
      expect(plan.window.kind).toBe('since');
      expect(plan.statements).toHaveLength(3);
      // The crash: some statements ran (each one commits on its own here), the rest never did.
      for (const statement of plan.statements.slice(0, ranStatements)) await warehouse.query(statement);

      // The next run, then another entity's event that moves the watermark on.
      await append(30, [ev('e', 1, 'created')]);
      await warehouse.compactCurrent(table);
      // Late: an event older than a's deletion, one older than c's latest, and d re-created.
      await append(0, [ev('a', 1, 'updated'), ev('c', 2, 'updated'), ev('d', 3, 'created')]);
      await warehouse.compactCurrent(table);

      await expectCurrentMatchesOracle(warehouse, table);
      expect((await currentRows(warehouse, table)).map((r) => [r['entity_id'], r['version']])).toEqual([
        ['b', 2],
        ['c', 3],
        ['d', 3],
        ['e', 1],
      ]);
      // A second run changes nothing.
      await warehouse.compactCurrent(table);
      await expectCurrentMatchesOracle(warehouse, table);
    },
    60_000,
  );

  it('_current is a table with exactly the view’s columns, keyed and clustered by source and entity', async () => {
    const table = uniqueTable('shape');
    await warehouse.appendChanges(table, [
      changeRowOf(table, entityHistory(table, 'x', () => 0)[0] as Event, Date.now()),
    ]);
    await warehouse.compactCurrent(table);
    const meta = await metadata(`${table}_current`);
    expect(meta.type).toBe('TABLE');
    expect(meta.clustering).toEqual({ fields: ['source', 'entity_id'] });
    expect((meta.schema?.fields ?? []).map((f) => f.name)).toEqual([
      'entity_id',
      'version',
      'data',
      'event_id',
      'event_time',
      'source',
    ]);
    expect(Object.keys((await currentRows(warehouse, table))[0] ?? {})).toEqual([
      'entity_id',
      'version',
      'data',
      'event_id',
      'event_time',
      'source',
    ]);
  });

  it('a dataset whose _current is the old view gets a table, built from the whole history, on the next start', async () => {
    const table = uniqueTable('migrate');
    const history = ['a', 'b', 'c'].flatMap((entity, i) => entityHistory(table, entity, mulberry32(10 + i)));
    await warehouse.appendChanges(
      table,
      history.map((e, i) => changeRowOf(table, e, Date.now() + i)),
    );
    // What an older changefeed left: `_current` a view, no compaction tables.
    await warehouse.query(`DROP TABLE \`${table}_current\``);
    await warehouse.query(`CREATE VIEW \`${table}_current\` AS ${oracleSql(table)}`);
    await warehouse.query(`DROP TABLE \`_changefeed_${table}_deleted\``);
    await warehouse.close();

    warehouse = openEmulatorWarehouse(dataset, { current: () => ({ ...EMULATOR_CURRENT_OPTIONS, compactEveryMs: 0 }) });
    await warehouse.appendChanges(table, [
      changeRowOf(
        table,
        { entity: 'z', version: 1, type: 'created', atMs: T0, id: `${table}/z/1`, data: '{}' },
        Date.now(),
      ),
    ]);

    expect((await metadata(`${table}_current`)).type).toBe('TABLE');
    await expectCurrentMatchesOracle(warehouse, table);
  });

  it('compactEvery 0: _current is current when the append resolves', async () => {
    const table = uniqueTable('sync');
    await warehouse.close();
    warehouse = openEmulatorWarehouse(dataset, { current: () => ({ ...EMULATOR_CURRENT_OPTIONS, compactEveryMs: 0 }) });
    const [created] = entityHistory(table, 'a', () => 0);
    await warehouse.appendChanges(table, [changeRowOf(table, created as Event, Date.now())]);
    expect((await currentRows(warehouse, table)).map((r) => r['entity_id'])).toEqual(['a']);
  });

  it('compactEvery 0: concurrent appends (group commits from concurrent pushes) all reach _current', async () => {
    const table = uniqueTable('conc');
    await warehouse.close();
    warehouse = openEmulatorWarehouse(dataset, { current: () => ({ ...EMULATOR_CURRENT_OPTIONS, compactEveryMs: 0 }) });
    const created = (entity: string): Event => ({
      entity,
      version: 1,
      type: 'created',
      atMs: T0,
      id: `${table}/${entity}/1`,
      data: JSON.stringify({ id: entity }),
    });
    const entities = Array.from({ length: 12 }, (_, i) => `e${String(i).padStart(2, '0')}`);
    await Promise.all(
      entities.map((entity) => warehouse.appendChanges(table, [changeRowOf(table, created(entity), Date.now())])),
    );
    expect((await currentRows(warehouse, table)).map((r) => r['entity_id'])).toEqual(entities);
  });

  it('the loader compacts a compactEvery after an append, and once more when it closes', async () => {
    const table = uniqueTable('sched');
    const clock = manualClock();
    await warehouse.close();
    warehouse = openEmulatorWarehouse(dataset, { clock });
    const ev = (entity: string): Event => ({
      entity,
      version: 1,
      type: 'created',
      atMs: T0,
      id: `${table}/${entity}/1`,
      data: JSON.stringify({ id: entity }),
    });
    await warehouse.appendChanges(table, [changeRowOf(table, ev('a'), Date.now())]);
    expect(await currentRows(warehouse, table)).toEqual([]);

    clock.wake();
    await eventually(async () => (await currentRows(warehouse, table)).length === 1, 'the scheduled compaction');

    await warehouse.appendChanges(table, [changeRowOf(table, ev('b'), Date.now())]);
    await warehouse.close();
    warehouse = openEmulatorWarehouse(dataset);
    expect((await currentRows(warehouse, table)).map((r) => r['entity_id'])).toEqual(['a', 'b']);
  });

  it('_history has every version as SCD2 rows; deletions close a version; as-of queries read it', async () => {
    const table = uniqueTable('hist');
    const at = (s: number): number => T0 + s * 1000;
    const ev = (entity: string, version: number, type: EventType, s: number): Event => ({
      entity,
      version,
      type,
      atMs: at(s),
      id: `${table}/${entity}/${version}/${type}`,
      data: type === 'deleted' ? null : JSON.stringify({ id: entity, v: version }),
    });
    const events = [
      ev('a', 1, 'created', 10),
      ev('a', 2, 'updated', 20),
      ev('a', 3, 'deleted', 30),
      ev('a', 4, 'created', 40),
      ev('b', 1, 'created', 15),
      ev('b', 1, 'created', 15), // a redelivery
      ev('c', 1, 'created', 12),
      ev('c', 2, 'deleted', 25),
    ];
    await warehouse.appendChanges(
      table,
      [...events].reverse().map((e) => changeRowOf(table, e, Date.now())),
    );
    await warehouse.compactCurrent(table);

    const iso = (s: number): string => new Date(at(s)).toISOString();
    expect(
      await warehouse.query(
        `SELECT entity_id, version, valid_from, valid_to, is_current FROM \`${table}_history\` ORDER BY entity_id, version`,
      ),
    ).toEqual([
      { entity_id: 'a', version: 1, valid_from: iso(10), valid_to: iso(20), is_current: false },
      { entity_id: 'a', version: 2, valid_from: iso(20), valid_to: iso(30), is_current: false },
      { entity_id: 'a', version: 4, valid_from: iso(40), valid_to: null, is_current: true },
      { entity_id: 'b', version: 1, valid_from: iso(15), valid_to: null, is_current: true },
      { entity_id: 'c', version: 1, valid_from: iso(12), valid_to: iso(25), is_current: false },
    ]);
    // is_current is exactly _current.
    expect(
      await warehouse.query(
        `SELECT entity_id, version, data, event_id FROM \`${table}_history\` WHERE is_current ORDER BY entity_id`,
      ),
    ).toEqual(
      await warehouse.query(`SELECT entity_id, version, data, event_id FROM \`${table}_current\` ORDER BY entity_id`),
    );
    // The whole table as of T (between a's deletion and its re-creation), and one entity at T.
    const asOf = (t: string, where = 'TRUE'): Promise<Record<string, unknown>[]> =>
      warehouse.query(
        `SELECT entity_id, version FROM \`${table}_history\`
         WHERE ${where} AND valid_from <= TIMESTAMP '${t}' AND (valid_to IS NULL OR valid_to > TIMESTAMP '${t}')
         ORDER BY entity_id`,
      );
    expect(await asOf(iso(35))).toEqual([{ entity_id: 'b', version: 1 }]);
    expect(await asOf(iso(22))).toEqual([
      { entity_id: 'a', version: 2 },
      { entity_id: 'b', version: 1 },
      { entity_id: 'c', version: 1 },
    ]);
    expect(await asOf(iso(20), "entity_id = 'a'")).toEqual([{ entity_id: 'a', version: 2 }]);
  });
});
