import {
  CURRENT_STATE,
  changesTableName,
  currentTableName,
  duplicateFirstOrder,
  earliestFirstOrder,
  entityKey,
  isLater,
  latestFirstOrder,
  sameEntity,
  TOMBSTONE_COLUMN_NAMES,
} from '../../warehouse';
import { quote, stringLiteral, tableRef } from './bigquery-tables';

/**
 * The GoogleSQL that keeps `<table>_current` and renders `<table>_history`, written from
 * `CURRENT_STATE` (which event of an entity wins, which copy of a redelivered event counts,
 * which event type deletes), so BigQuery and DuckDB agree on what the current state is.
 */

/** The tables one stream table's current state involves, as fully qualified references. */
export interface CurrentRefs {
  /** The table name as the loader knows it (`carts`), for the compaction log. */
  readonly table: string;
  readonly changes: string;
  readonly current: string;
  readonly history: string;
  /** Merge mode: the recent change rows the compaction reads (partitions expire). */
  readonly pending: string;
  /** Merge mode: the latest event of every entity whose latest event is a deletion. */
  readonly deleted: string;
  /** Merge mode: one row per compaction, with the watermark it reached. */
  readonly compactions: string;
}

/** The table names behind `CurrentRefs`; the internal ones start with `_changefeed_`. */
export function currentTableNames(table: string): Record<Exclude<keyof CurrentRefs, 'table'>, string> {
  return {
    changes: changesTableName(table),
    current: currentTableName(table),
    history: `${table}_history`,
    pending: `_changefeed_${table}_pending`,
    deleted: `_changefeed_${table}_deleted`,
    compactions: '_changefeed_compactions',
  };
}

export function currentRefs(projectId: string, dataset: string, table: string): CurrentRefs {
  const names = currentTableNames(table);
  const ref = (name: string): string => tableRef(projectId, dataset, name);
  return {
    table,
    changes: ref(names.changes),
    current: ref(names.current),
    history: ref(names.history),
    pending: ref(names.pending),
    deleted: ref(names.deleted),
    compactions: ref(names.compactions),
  };
}

const KEY = CURRENT_STATE.key;
const DELETED = stringLiteral(CURRENT_STATE.deletionType);

const keyJoin = (a: string, b: string): string => sameEntity(a, b, quote);
const newerThan = (a: string, b: string): string => isLater(a, b, quote);

/**
 * Change rows with one row per event id (the copy `CURRENT_STATE.duplicateFirst` keeps).
 * `WHERE TRUE`: GoogleSQL accepts QUALIFY only beside a WHERE, GROUP BY or HAVING clause.
 * https://cloud.google.com/bigquery/docs/reference/standard-sql/query-syntax#qualify_clause
 */
function uniqueEvents(from: string): string {
  return `SELECT * FROM ${from}
  WHERE TRUE
  QUALIFY ROW_NUMBER() OVER (PARTITION BY event_id ORDER BY ${duplicateFirstOrder(quote)}) = 1`;
}

/** Per entity, the event `CURRENT_STATE.latestFirst` puts first, deletions included. */
function latestPerEntity(from: string): string {
  return `SELECT * FROM ${from}
  WHERE TRUE
  QUALIFY ROW_NUMBER() OVER (PARTITION BY ${entityKey(quote)} ORDER BY ${latestFirstOrder(quote)}) = 1`;
}

const CURRENT_COLUMNS = CURRENT_STATE.columns.map(quote);
const TOMBSTONE_COLUMNS = TOMBSTONE_COLUMN_NAMES.map(quote);

/**
 * `<table>_history`: every version of every entity as SCD type 2 rows, the shape dlt's `scd2`
 * merge gives. A version is valid from its event time until the next event of the entity (in
 * `CURRENT_STATE` order) replaced or deleted it; deletions close the version before them and
 * are no row of their own; a redelivered event counts once. `is_current` is true exactly for
 * the rows `<table>_current` holds. Point in time: `WHERE valid_from <= T AND (valid_to IS NULL
 * OR valid_to > T)`.
 */
export function historyViewSql(refs: CurrentRefs): string {
  const entity = entityKey(quote);
  return `CREATE OR REPLACE VIEW ${refs.history} AS
WITH unique_events AS (
  ${uniqueEvents(refs.changes)}
), versions AS (
  SELECT *, LEAD(event_time) OVER (PARTITION BY ${entity} ORDER BY ${earliestFirstOrder(quote)}) AS valid_to
  FROM unique_events
)
SELECT entity_id, version, data, event_id, event_time AS valid_from, valid_to, valid_to IS NULL AS is_current
FROM versions WHERE event_type != ${DELETED}`;
}

/** The change rows one compaction reads. */
export type CompactionWindow =
  /** Every change ever loaded: the first build, or after the pending rows may have expired. */
  | { readonly kind: 'full' }
  /** The pending rows ingested after `afterMs` (the last watermark less the safety overlap). */
  | { readonly kind: 'since'; readonly afterMs: number };

function windowRows(refs: CurrentRefs, window: CompactionWindow): string {
  return window.kind === 'full'
    ? refs.changes
    : `(SELECT * FROM ${refs.pending} WHERE ingested_at > TIMESTAMP_MILLIS(${Math.floor(window.afterMs)}))`;
}

export interface CompactionOptions {
  /**
   * Merge mode keeps deletions in `deleted`, so an event older than a deletion that arrives
   * after it cannot bring the entity back. A full build reads every event and needs none.
   */
  readonly tombstones: boolean;
  /** Merge mode records the watermark it reached; a one-off build (change data capture) does not. */
  readonly recordWatermark: boolean;
}

/**
 * The statements of one compaction, in order. Each one is idempotent and version-guarded, so
 * running any prefix of them and then all of them (a crash between two, then the next run)
 * gives the same `_current` as running them once; the watermark is recorded last, so a run cut
 * short is read again from the same place. The warehouse runs them in one transaction anyway.
 *
 * 1. Tombstones: the window's latest event per entity, where it is newer than the entity's
 *    `_current` row, becomes the entity's tombstone if it is a deletion newer than the one
 *    kept, and removes the tombstone if it is a live event newer than it.
 * 2. `_current`: the same events, where newer than the entity's tombstone (or the tombstone
 *    itself, step 1 having just written it), replace an older row, insert a missing one, or
 *    delete the row for a deletion.
 * 3. The watermark: the latest `ingested_at` the window held.
 *
 * https://cloud.google.com/bigquery/docs/reference/standard-sql/dml-syntax#merge_statement
 */
export function compactionStatements(
  refs: CurrentRefs,
  window: CompactionWindow,
  options: CompactionOptions,
): string[] {
  const rows = windowRows(refs, window);
  const latest = `(${latestPerEntity(rows)})`;
  const statements: string[] = [];
  if (options.tombstones) {
    statements.push(`MERGE ${refs.deleted} AS t
USING (
  SELECT w.* FROM ${latest} AS w LEFT JOIN ${refs.current} AS c ON ${keyJoin('w', 'c')}
  WHERE c.entity_id IS NULL OR ${newerThan('w', 'c')}
) AS s
ON ${keyJoin('t', 's')}
WHEN MATCHED AND s.event_type = ${DELETED} AND ${newerThan('s', 't')} THEN
  UPDATE SET ${TOMBSTONE_COLUMNS.map((c) => `${c} = s.${c}`).join(', ')}
WHEN MATCHED AND ${newerThan('s', 't')} THEN DELETE
WHEN NOT MATCHED BY TARGET AND s.event_type = ${DELETED} THEN
  INSERT (${TOMBSTONE_COLUMNS.join(', ')}) VALUES (${TOMBSTONE_COLUMNS.map((c) => `s.${c}`).join(', ')})`);
  }
  const source = options.tombstones
    ? `SELECT w.* FROM ${latest} AS w LEFT JOIN ${refs.deleted} AS d ON ${keyJoin('w', 'd')}
  WHERE d.entity_id IS NULL OR w.event_id = d.event_id OR ${newerThan('w', 'd')}`
    : `SELECT * FROM ${latest}`;
  const updated = CURRENT_COLUMNS.filter((c) => !KEY.map(quote).includes(c));
  statements.push(`MERGE ${refs.current} AS t
USING (
  ${source}
) AS s
ON ${keyJoin('t', 's')}
WHEN MATCHED AND s.event_type = ${DELETED} AND ${newerThan('s', 't')} THEN DELETE
WHEN MATCHED AND s.event_type != ${DELETED} AND ${newerThan('s', 't')} THEN
  UPDATE SET ${updated.map((c) => `${c} = s.${c}`).join(', ')}
WHEN NOT MATCHED BY TARGET AND s.event_type != ${DELETED} THEN
  INSERT (${CURRENT_COLUMNS.join(', ')}) VALUES (${CURRENT_COLUMNS.map((c) => `s.${c}`).join(', ')})`);
  if (options.recordWatermark) {
    statements.push(`INSERT INTO ${refs.compactions} (table_name, watermark, events, full_build, compacted_at)
SELECT ${stringLiteral(refs.table)}, MAX(ingested_at), COUNT(*), ${window.kind === 'full' ? 'TRUE' : 'FALSE'}, CURRENT_TIMESTAMP()
FROM ${rows} HAVING COUNT(*) > 0`);
  }
  return statements;
}

/**
 * The latest watermark a compaction of `table` recorded in the last `withinMs`, in ms since the
 * epoch (null: none). Older records do not matter (their pending rows have expired), and the
 * filter on the partitioning column keeps this read to the newest partitions.
 */
export function watermarkSql(refs: CurrentRefs, withinMs: number): string {
  return `SELECT UNIX_MILLIS(MAX(watermark)) AS watermark_ms FROM ${refs.compactions}
WHERE table_name = ${stringLiteral(refs.table)}
  AND compacted_at > TIMESTAMP_SUB(CURRENT_TIMESTAMP(), INTERVAL ${Math.floor(withinMs)} MILLISECOND)`;
}

/** The statements as one script in a transaction: readers see all of a compaction or none of it. */
export function inTransaction(statements: readonly string[]): string {
  return ['BEGIN TRANSACTION;', ...statements.map((s) => `${s};`), 'COMMIT TRANSACTION;'].join('\n');
}
