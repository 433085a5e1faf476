import path from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import { DuckDbWarehouse } from '@changefeed/shared/adapters/local';
import type { ChangeRow } from '@changefeed/shared/ports';
import { appendBare, BARE_SETTINGS, createBareChangesTable } from './bare-appender';
import { target, type BenchOptions, type Figure, type SectionResult } from './bench-types';
import { elapsedMs, median, repeat } from './measure';

/** The definition `_current` had as a view: the baseline whose cost grows with the history. */
function viewSql(table: string): string {
  return `CREATE OR REPLACE VIEW "${table}_current_view" AS
WITH unique_events AS (
  SELECT * FROM "${table}_changes"
  QUALIFY row_number() OVER (PARTITION BY event_id ORDER BY ingested_at, message_id) = 1
), latest AS (
  SELECT * FROM unique_events
  QUALIFY row_number() OVER (PARTITION BY source, entity_id ORDER BY version DESC, event_time DESC, event_id) = 1
)
SELECT entity_id, version, data, event_id, event_time, source FROM latest WHERE event_type <> 'deleted'`;
}

const T0 = Date.parse('2024-06-01T00:00:00.000Z');

function changeRow(entity: number, version: number, serial: number): ChangeRow {
  const eventTime = new Date(T0 + version * 3_600_000 + entity);
  return {
    event_id: `ev-${entity}-${version}-${serial}`,
    event_type: version === 1 ? 'created' : 'updated',
    source: 'carts',
    entity_id: `cart-${entity}`,
    version,
    data: JSON.stringify({
      id: entity,
      version,
      total: (entity % 997) + version,
      items: [{ sku: entity % 31, qty: 1 }],
    }),
    event_time: eventTime,
    publish_time: eventTime,
    ingested_at: eventTime,
    delivery_attempt: 1,
    message_id: `m-${entity}-${version}-${serial}`,
  };
}

/**
 * A warehouse whose `carts_changes` holds `versions` versions of each of `entities` entities. The
 * history is generated in SQL (far faster than appending it), then `carts_current` is dropped
 * and the next append builds it from the history once, the path an upgraded data directory takes.
 */
async function warehouseWithHistory(file: string, entities: number, versions: number): Promise<DuckDbWarehouse> {
  const warehouse = await DuckDbWarehouse.open(file);
  await warehouse.appendChanges('carts', [changeRow(0, 1, 0)]);
  await warehouse.query(`DELETE FROM carts_changes`);
  await warehouse.query(`INSERT INTO carts_changes
    SELECT 'ev-' || e || '-' || v, CASE WHEN v = 1 THEN 'created' ELSE 'updated' END, 'carts', 'cart-' || e, v,
      json_object('id', e, 'version', v, 'total', e % 997 + v, 'items', json_array(json_object('sku', e % 31, 'qty', 1))),
      TIMESTAMPTZ '2024-06-01 00:00:00+00' + to_hours(v) + to_milliseconds(e), TIMESTAMPTZ '2024-06-01 00:00:00+00' + to_hours(v),
      TIMESTAMPTZ '2024-06-01 00:00:00+00' + to_hours(v), 1, 'm-' || e || '-' || v
    FROM range(1, ${versions + 1}) AS vs(v), range(${entities}) AS es(e)
    ORDER BY v, e`);
  await warehouse.query('DROP TABLE carts_current');
  await warehouse.query('DROP TABLE _changefeed_carts_tombstones');
  // The upsert of this one event (a newer version of entity 0) rebuilds _current from the history.
  await warehouse.appendChanges('carts', [changeRow(0, versions + 1, 1)]);
  await warehouse.query(viewSql('carts'));
  // The build leaves the history in the write-ahead log; fold it into the file as a warehouse
  // that has been running would have, so each size is measured in the same state.
  await warehouse.query('CHECKPOINT');
  return warehouse;
}

async function timeQuery(warehouse: DuckDbWarehouse, sql: string, runs: number): Promise<number[]> {
  return repeat(runs, async () => {
    const start = process.hrtime.bigint();
    await warehouse.query(sql);
    return elapsedMs(start);
  });
}

/**
 * Batches of `batchSize` updates appended through the warehouse (append + `_current` upsert in
 * one transaction) against the same rows appended by a bare DuckDB appender in a transaction, each
 * into a warehouse already holding `entities` entities. Returns ms per batch for both.
 */
async function appendCost(
  dir: string,
  entities: number,
  batchSize: number,
  batches: number,
  runs: number,
): Promise<{ upsert: number[]; bare: number[] }> {
  const warehouse = await warehouseWithHistory(path.join(dir, `append-upsert-${batchSize}.duckdb`), entities, 1);
  const instance = await DuckDBInstance.create(path.join(dir, `append-bare-${batchSize}.duckdb`), BARE_SETTINGS);
  const bare = await instance.connect();
  let serial = 10;
  try {
    await createBareChangesTable(bare, 'carts_changes');
    const makeBatch = (run: number, b: number): ChangeRow[] => {
      serial += 1;
      const rows: ChangeRow[] = [];
      for (let i = 0; i < batchSize; i++) {
        const entity = (b * batchSize + i * 7919) % entities;
        rows.push(changeRow(entity, 2 + run + 2 + b, serial));
      }
      return rows;
    };
    const upsert: number[] = [];
    const plain: number[] = [];
    await repeat(runs, async (run) => {
      const prepared = Array.from({ length: batches }, (_, b) => makeBatch(run, b));
      let start = process.hrtime.bigint();
      for (const rows of prepared) await warehouse.appendChanges('carts', rows);
      const upsertMs = elapsedMs(start) / batches;
      start = process.hrtime.bigint();
      for (const rows of prepared) await appendBare(bare, 'carts_changes', rows);
      const bareMs = elapsedMs(start) / batches;
      if (run >= 0) {
        upsert.push(upsertMs);
        plain.push(bareMs);
      }
    });
    return { upsert, bare: plain };
  } finally {
    await warehouse.close();
    bare.closeSync();
    instance.closeSync();
  }
}

/**
 * Issue 13: the cost of reading the current state must be that of the current state, not of the
 * history. `carts_current` (the maintained table) and the view it replaced, side by side on the
 * same file, at 1×, 10× and 30× versions per entity.
 */
export async function benchCurrentState(options: BenchOptions): Promise<SectionResult> {
  const entities = options.quick ? 2_000 : 100_000;
  const multipliers = [1, 10, 30] as const;
  const runs = options.runs;
  const figures: Figure[] = [];
  const table: Record<number, { aggregate: number; lookup: number; viewAggregate: number; viewLookup: number }> = {};
  const aggregate = (relation: string): string => `SELECT count(*), sum(version) FROM ${relation}`;
  const lookup = (relation: string): string =>
    `SELECT * FROM ${relation} WHERE entity_id = 'cart-${Math.floor(entities / 2)}'`;
  for (const versions of multipliers) {
    const buildStart = process.hrtime.bigint();
    const warehouse = await warehouseWithHistory(
      path.join(options.workDir, `current-${versions}.duckdb`),
      entities,
      versions,
    );
    const buildMs = elapsedMs(buildStart);
    options.log(
      `current: ${versions}× history built (${(entities * versions).toLocaleString('en')} rows, ${buildMs.toFixed(0)} ms)`,
    );
    try {
      const [count] = await warehouse.query('SELECT count(*) AS n FROM carts_current');
      const [viewCount] = await warehouse.query('SELECT count(*) AS n FROM carts_current_view');
      if (count?.['n'] !== entities || viewCount?.['n'] !== entities) {
        throw new Error(
          `current: expected ${entities} entities, table has ${String(count?.['n'])}, view ${String(viewCount?.['n'])}`,
        );
      }
      const row = {
        // A few ms each: enough repetitions that a scheduling hiccup does not decide the median.
        aggregate: median(await timeQuery(warehouse, aggregate('carts_current'), Math.max(runs, 25))),
        lookup: median(await timeQuery(warehouse, lookup('carts_current'), Math.max(runs, 25))),
        viewAggregate: median(await timeQuery(warehouse, aggregate('carts_current_view'), runs)),
        viewLookup: median(await timeQuery(warehouse, lookup('carts_current_view'), runs)),
      };
      table[versions] = row;
      figures.push(
        { label: `${versions}× history: count + sum over carts_current (table)`, value: row.aggregate, unit: 'ms' },
        { label: `${versions}× history: point lookup in carts_current (table)`, value: row.lookup, unit: 'ms' },
        {
          label: `${versions}× history: count + sum over the old view (baseline)`,
          value: row.viewAggregate,
          unit: 'ms',
        },
        { label: `${versions}× history: point lookup in the old view (baseline)`, value: row.viewLookup, unit: 'ms' },
      );
    } finally {
      await warehouse.close();
    }
  }
  const one = table[1];
  const thirty = table[30];
  if (one === undefined || thirty === undefined) throw new Error('current: a history size was not measured');
  const aggregateGrowth = thirty.aggregate / one.aggregate;
  const lookupGrowth = thirty.lookup / one.lookup;
  figures.push(
    { label: 'table: 30× / 1× history, count + sum', value: aggregateGrowth, unit: 'x' },
    { label: 'table: 30× / 1× history, point lookup', value: lookupGrowth, unit: 'x' },
    { label: 'old view: 30× / 1× history, count + sum', value: thirty.viewAggregate / one.viewAggregate, unit: 'x' },
    {
      label: 'old view / table at 30× history, count + sum',
      value: thirty.viewAggregate / thirty.aggregate,
      unit: 'x',
    },
  );

  // 500: a batch of the loader's pull today; 5,000: the batches issue 12's delivery will make.
  // DuckDB changes rows by scanning, so the upsert costs a scan of _current per batch, and a
  // larger batch spreads that over more rows.
  const costs: { batchSize: number; ratio: number }[] = [];
  for (const batchSize of [500, 5_000]) {
    const batches = options.quick ? 2 : Math.max(4, 20_000 / batchSize);
    const cost = await appendCost(options.workDir, entities, batchSize, batches, runs);
    const ratios = cost.upsert.map((u, i) => u / (cost.bare[i] ?? Number.NaN));
    costs.push({ batchSize, ratio: median(ratios) });
    figures.push(
      {
        label: `append + _current upsert, per batch of ${batchSize}`,
        value: median(cost.upsert),
        unit: 'ms',
        samples: cost.upsert,
      },
      {
        label: `bare DuckDB appender, same rows, per batch of ${batchSize}`,
        value: median(cost.bare),
        unit: 'ms',
        samples: cost.bare,
      },
      {
        label: `append + upsert / bare appender, batches of ${batchSize}`,
        value: median(ratios),
        unit: 'x',
        samples: ratios,
      },
    );
  }
  const upsertRatio = costs[0]?.ratio ?? Number.NaN;
  return {
    id: 'current',
    title: 'Reading the current state, and what maintaining it costs',
    figures,
    targets: [
      target('carts_current count + sum: 30× history ≤ 1.5× the time at 1×', aggregateGrowth, 1.5, 'max'),
      target('carts_current point lookup: 30× history ≤ 1.5× the time at 1×', lookupGrowth, 1.5, 'max'),
      target('append + _current upsert ≤ 1.5× the append alone (batches of 500)', upsertRatio, 1.5, 'max'),
    ],
    notes: [
      `${entities.toLocaleString('en')} entities with 1, 10 and 30 versions each in carts_changes (DuckDB, one file per size); median of ${runs} run(s) after a warm-up`,
      'baseline: the window-function view `_current` was until now, over the same file in the same run',
      `append cost: 20,000 updates in batches of 500 and of 5,000 into a warehouse of ${entities.toLocaleString('en')} entities; the bare appender writes the same rows into a table of the same columns in its own file, in a transaction per batch`,
    ],
  };
}
