import type { DuckDBConnection } from '@duckdb/node-api';
import type { ChangeRow } from '../../ports';
import {
  CHANGES_TABLE,
  CURRENT_STATE,
  changesTableName,
  currentTableName,
  duplicateFirstOrder,
  earliestFirstOrder,
  historyViewName,
  isLater,
  latestFirstOrder,
  sameEntity,
  TOMBSTONE_COLUMN_NAMES,
} from '../../warehouse';
import { appendChunks } from './duckdb-chunk-append';
import { createTableSql, ident, relationKind } from './duckdb-tables';

/**
 * `<table>_current` as a table maintained with every append, in the append's transaction: its
 * query cost is that of the current state, not of the history.
 *
 * An entity's row is replaced only by a later event (`CURRENT_STATE.latestFirst`); a deletion
 * removes it and leaves a tombstone, so an older event delivered after the deletion (out of
 * order, or redelivered) cannot bring the entity back. Tombstones live in their own table so that
 * `_current` holds exactly the live entities with exactly the documented columns.
 */

/** The tombstones of `table`: the latest event of each entity whose latest event is a deletion. */
export function tombstonesTableName(table: string): string {
  return `_changefeed_${table}_tombstones`;
}

/** The per-connection staging table of a batch's rows. */
const STAGE = '_changefeed_current_stage';
/** The staged events that beat what `_current` and the tombstones hold. */
const WINNERS = '_changefeed_current_winners';

const TOMBSTONE_COLUMNS = TOMBSTONE_COLUMN_NAMES;

const list = (names: readonly string[], alias?: string): string =>
  names.map((n) => (alias === undefined ? ident(n) : `${alias}.${ident(n)}`)).join(', ');

/**
 * The latest event per entity over the whole of `<table>_changes`, redeliveries counted once.
 * Used once per table, to build `_current` and the tombstones from an existing history.
 */
function latestEventsSql(table: string): string {
  return `WITH unique_events AS (
  SELECT * FROM ${ident(changesTableName(table))}
  QUALIFY row_number() OVER (PARTITION BY event_id ORDER BY ${duplicateFirstOrder(ident)}) = 1
)
SELECT * FROM unique_events
QUALIFY row_number() OVER (PARTITION BY ${list(CURRENT_STATE.key)} ORDER BY ${latestFirstOrder(ident)}) = 1`;
}

/**
 * `<table>_history`: every version of every entity as SCD type 2 rows, each valid from its
 * event's time until the entity's next event (a newer version, or its deletion); the current
 * version of a live entity has `valid_to` NULL and `is_current` true. What dlt's `scd2` gives.
 */
export function historyViewSql(table: string): string {
  const key = list(CURRENT_STATE.key);
  return `CREATE OR REPLACE VIEW ${ident(historyViewName(table))} AS
WITH unique_events AS (
  SELECT * FROM ${ident(changesTableName(table))}
  QUALIFY row_number() OVER (PARTITION BY event_id ORDER BY ${duplicateFirstOrder(ident)}) = 1
), versions AS (
  SELECT *, lead(event_time) OVER (PARTITION BY ${key} ORDER BY ${earliestFirstOrder(ident)}) AS valid_to
  FROM unique_events
)
SELECT entity_id, version, data, event_id, event_time AS valid_from, valid_to, valid_to IS NULL AS is_current, source
FROM versions WHERE event_type <> '${CURRENT_STATE.deletionType}'`;
}

/**
 * Makes sure `<table>_current` is a maintained table and its tombstones exist. A data directory
 * from before (where `_current` was a view over the history), or a history without `_current`,
 * gets both built once from `<table>_changes`. Runs inside the caller's transaction.
 */
export async function ensureCurrentTable(
  c: DuckDBConnection,
  table: string,
): Promise<'created' | 'migrated' | 'ready'> {
  const current = currentTableName(table);
  const tombstones = tombstonesTableName(table);
  const kind = await relationKind(c, current);
  if (kind === 'table') {
    await c.run(
      `CREATE TABLE IF NOT EXISTS ${ident(tombstones)} AS SELECT ${list(TOMBSTONE_COLUMNS)} FROM (${latestEventsSql(table)}) WHERE FALSE`,
    );
    return 'ready';
  }
  if (kind === 'view') await c.run(`DROP VIEW ${ident(current)}`);
  await c.run(`DROP TABLE IF EXISTS ${ident(tombstones)}`);
  const latest = `(${latestEventsSql(table)})`;
  const deletion = `event_type = '${CURRENT_STATE.deletionType}'`;
  await c.run(
    `CREATE TABLE ${ident(current)} AS SELECT ${list(CURRENT_STATE.columns)} FROM ${latest} WHERE NOT (${deletion})`,
  );
  await c.run(
    `CREATE TABLE ${ident(tombstones)} AS SELECT ${list(TOMBSTONE_COLUMNS)} FROM ${latest} WHERE ${deletion}`,
  );
  return kind === 'view' ? 'migrated' : 'created';
}

/**
 * Creates the connection's stage table, once, outside any transaction: a temporary table created
 * inside the append's transaction would vanish with its rollback.
 */
export async function createCurrentStage(c: DuckDBConnection): Promise<void> {
  await c.run(createTableSql(STAGE, CHANGES_TABLE, true));
}

/**
 * Appends `rows` to `<table>_changes` and applies them to `<table>_current` and its tombstones,
 * inside the caller's transaction. The rows cross from JavaScript once, into the stage (each value
 * checked there; a bad one rejects the call with `WAREHOUSE.INVALID_ROW`), and everything else is
 * SQL over the stage: the copy into `_changes`, then the batch's latest event per entity, kept
 * where it beats both the entity's row and its tombstone, replacing them.
 *
 * DuckDB changes rows by scanning, so each statement that touches `_current` costs a scan of
 * it (about 5 ms per 100k entities here): the winners are found in one join, which also picks
 * the `rowid` of each row they replace, and the delete then goes by `rowid` instead of joining
 * again. Row ids are stable within a transaction (nothing checkpoints in the middle of one).
 * The tombstones are joined only when there are any, or the batch deletes something.
 */
export async function appendChangesAndCurrent(
  c: DuckDBConnection,
  table: string,
  rows: readonly ChangeRow[],
  where: (index: number) => string,
): Promise<void> {
  if (rows.length === 0) return;
  const current = ident(currentTableName(table));
  const tombstones = ident(tombstonesTableName(table));
  const stage = ident(STAGE);
  await c.run(`DELETE FROM ${stage}`);
  await appendChunks(c, STAGE, 'temp', CHANGES_TABLE.columns, rows, where);
  const changeColumns = list(CHANGES_TABLE.columns.map((col) => col.name));
  await c.run(`INSERT INTO ${ident(changesTableName(table))} (${changeColumns}) SELECT ${changeColumns} FROM ${stage}`);
  const deletes = rows.some((row) => row.event_type === CURRENT_STATE.deletionType);
  const withTombstones = deletes || (await hasRows(c, tombstones));
  // A batch often holds several events of one entity: its latest one is the candidate.
  const latest = `(SELECT * FROM ${stage}
  QUALIFY row_number() OVER (PARTITION BY ${list(CURRENT_STATE.key)} ORDER BY ${latestFirstOrder(ident)}) = 1)`;
  await c.run(`CREATE OR REPLACE TEMP TABLE ${ident(WINNERS)} AS
SELECT s.*, c.rowid AS _current_rowid${withTombstones ? ', d.rowid AS _tombstone_rowid' : ''} FROM ${latest} AS s
LEFT JOIN ${current} AS c ON ${sameEntity('c', 's', ident)}
${withTombstones ? `LEFT JOIN ${tombstones} AS d ON ${sameEntity('d', 's', ident)}` : ''}
WHERE (c.entity_id IS NULL OR ${isLater('s', 'c', ident)})${
    withTombstones ? ` AND (d.entity_id IS NULL OR ${isLater('s', 'd', ident)})` : ''
  }`);
  const w = ident(WINNERS);
  await c.run(
    `DELETE FROM ${current} WHERE rowid IN (SELECT _current_rowid FROM ${w} WHERE _current_rowid IS NOT NULL)`,
  );
  if (withTombstones) {
    await c.run(
      `DELETE FROM ${tombstones} WHERE rowid IN (SELECT _tombstone_rowid FROM ${w} WHERE _tombstone_rowid IS NOT NULL)`,
    );
  }
  const deletion = `event_type = '${CURRENT_STATE.deletionType}'`;
  await c.run(`INSERT INTO ${current} SELECT ${list(CURRENT_STATE.columns)} FROM ${w} WHERE NOT (${deletion})`);
  if (deletes) await c.run(`INSERT INTO ${tombstones} SELECT ${list(TOMBSTONE_COLUMNS)} FROM ${w} WHERE ${deletion}`);
}

async function hasRows(c: DuckDBConnection, table: string): Promise<boolean> {
  const reader = await c.runAndReadAll(`SELECT 1 FROM ${table} LIMIT 1`);
  return reader.currentRowCount > 0;
}
