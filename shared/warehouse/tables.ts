import type { ChangeRow, RejectedRow, RunRecord } from '../ports';

/**
 * The warehouse's tables, described once. Every warehouse adapter (DuckDB locally, BigQuery on
 * Google Cloud) renders these descriptions in its own dialect, so a query written against the
 * local warehouse runs unchanged on BigQuery, and a column added here reaches both.
 */

/** The logical column types; each adapter maps them to its own (`VARCHAR`/`STRING`, ...). */
export const ColumnType = {
  string: 'string',
  int64: 'int64',
  int32: 'int32',
  json: 'json',
  timestamp: 'timestamp',
} as const;
export type ColumnType = (typeof ColumnType)[keyof typeof ColumnType];

/** One column of a table changefeed owns: its type, and how a row supplies its value. */
export interface Column<R> {
  readonly name: string;
  readonly type: ColumnType;
  /** Absent or false: the value must be set (a missing one is `WAREHOUSE.INVALID_ROW`). */
  readonly nullable?: boolean;
  /** What the column holds, for table descriptions and the README. */
  readonly description: string;
  readonly value: (row: R) => unknown;
}

/** A table changefeed writes rows of type `R` to. */
export interface TableSpec<R> {
  readonly description: string;
  readonly columns: readonly Column<R>[];
  /** The timestamp column the table is partitioned by (by day), where the warehouse partitions. */
  readonly partitionBy?: string;
  /** Columns the table is clustered (or sorted) by, most selective first. */
  readonly clusterBy?: readonly string[];
}

/** `<table>_changes`: the lossless, append-only history, one row per event as the loader received it. */
export const CHANGES_TABLE: TableSpec<ChangeRow> = {
  description: 'changefeed: one row per change event as the loader received it (append-only).',
  // `event_time` is when the change was detected: what analysts filter on ("what changed
  // yesterday"), and the same for every redelivery of an event, so duplicates share a partition.
  partitionBy: 'event_time',
  clusterBy: ['entity_id'],
  columns: [
    {
      name: 'event_id',
      type: 'string',
      description: 'The CloudEvent id: hash of source, entity, version, type and content.',
      value: (r) => r.event_id,
    },
    { name: 'event_type', type: 'string', description: 'created, updated or deleted.', value: (r) => r.event_type },
    { name: 'source', type: 'string', description: 'The source name from the config.', value: (r) => r.source },
    { name: 'entity_id', type: 'string', description: "The record's id field, as text.", value: (r) => r.entity_id },
    {
      name: 'version',
      type: 'int64',
      description: "The entity's change counter; survives delete and re-create.",
      value: (r) => r.version,
    },
    {
      name: 'data',
      type: 'json',
      nullable: true,
      description: 'The record as the source returned it; null for deletions.',
      value: (r) => r.data,
    },
    {
      name: 'event_time',
      type: 'timestamp',
      description: 'When the poller detected the change.',
      value: (r) => r.event_time,
    },
    {
      name: 'publish_time',
      type: 'timestamp',
      description: 'When the bus accepted the message.',
      value: (r) => r.publish_time,
    },
    {
      name: 'ingested_at',
      type: 'timestamp',
      description: 'When the loader received it.',
      value: (r) => r.ingested_at,
    },
    {
      name: 'delivery_attempt',
      type: 'int32',
      nullable: true,
      description: 'Which delivery this was; null when the bus does not say.',
      value: (r) => r.delivery_attempt,
    },
    { name: 'message_id', type: 'string', description: "The bus's message id.", value: (r) => r.message_id },
  ],
};

/** `_rejected`: messages that can never be loaded, kept with the reason (never retried, never lost). */
export const REJECTED_TABLE: TableSpec<RejectedRow> = {
  description: 'changefeed: messages that can never be valid, with the reason.',
  partitionBy: 'received_at',
  columns: [
    {
      name: 'message_id',
      type: 'string',
      nullable: true,
      description: "The bus's message id, when the body had one.",
      value: (r) => r.message_id,
    },
    {
      name: 'subscription',
      type: 'string',
      nullable: true,
      description: 'The subscription it came from, when known.',
      value: (r) => r.subscription,
    },
    { name: 'reason', type: 'string', description: 'Why it can never be loaded.', value: (r) => r.reason },
    {
      name: 'payload',
      type: 'string',
      description: 'The raw body, truncated to a safe size.',
      value: (r) => r.payload,
    },
    {
      name: 'received_at',
      type: 'timestamp',
      description: 'When the loader received it.',
      value: (r) => r.received_at,
    },
  ],
};

/** `_runs`: one audit row per poll cycle and batch run. */
export const RUNS_TABLE: TableSpec<RunRecord> = {
  description: 'changefeed: one audit row per poll cycle and batch run.',
  partitionBy: 'started_at',
  clusterBy: ['source'],
  columns: [
    { name: 'run_id', type: 'string', description: 'Unique per run.', value: (r) => r.runId },
    { name: 'source', type: 'string', description: 'The source name.', value: (r) => r.source },
    { name: 'kind', type: 'string', description: 'poll or batch.', value: (r) => r.kind },
    { name: 'started_at', type: 'timestamp', description: 'When the run started.', value: (r) => r.startedAt },
    { name: 'ended_at', type: 'timestamp', description: 'When it ended.', value: (r) => r.endedAt },
    { name: 'rows_read', type: 'int64', description: 'Records read from the source.', value: (r) => r.rowsRead },
    {
      name: 'rows_written',
      type: 'int64',
      description: 'Events published, or rows loaded.',
      value: (r) => r.rowsWritten,
    },
    { name: 'status', type: 'string', description: 'succeeded or failed.', value: (r) => r.status },
    { name: 'error', type: 'string', nullable: true, description: 'Why it failed.', value: (r) => r.error },
    {
      name: 'details',
      type: 'json',
      description: 'Kind-specific counts (created, updated, deleted, skipped, ...).',
      value: (r) => JSON.stringify(r.details),
    },
  ],
};

/** The table names changefeed owns besides the per-source ones. */
export const TABLE_NAMES = { rejected: '_rejected', runs: '_runs' } as const;

/** The column reference (batch) tables get with the time of the load that wrote each row. */
export const LOADED_AT_COLUMN = '_loaded_at';

export function changesTableName(table: string): string {
  return `${table}_changes`;
}

export function currentTableName(table: string): string {
  return `${table}_current`;
}

/**
 * What `<table>_current` means, whatever maintains it (a view, an upsert, change data capture):
 * per entity, the latest of its events, where
 * - duplicates of an event id (redeliveries) count once, the first ingested kept;
 * - the latest event is the highest `version`, then the latest `event_time` (a re-detected,
 *   different change of the same version), then the smallest `event_id`, so the choice is
 *   deterministic whatever order events arrive in;
 * - an entity whose latest event is a deletion has no row.
 */
export const CURRENT_STATE = {
  /** The entity key: `_current` has one row per distinct value of these. */
  key: ['source', 'entity_id'],
  /** Which event of an entity wins, as ORDER BY terms (first wins). */
  latestFirst: [
    { column: 'version', direction: 'desc' },
    { column: 'event_time', direction: 'desc' },
    { column: 'event_id', direction: 'asc' },
  ],
  /** Which copy of a redelivered event id counts. */
  duplicateFirst: [
    { column: 'ingested_at', direction: 'asc' },
    { column: 'message_id', direction: 'asc' },
  ],
  /** The `event_type` whose event removes the entity's row. */
  deletionType: 'deleted',
  /** The columns of `_current`, in order, taken from the winning change row. */
  columns: ['entity_id', 'version', 'data', 'event_id', 'event_time', 'source'],
} as const satisfies {
  readonly key: readonly (keyof ChangeRow)[];
  readonly latestFirst: readonly { readonly column: keyof ChangeRow; readonly direction: 'asc' | 'desc' }[];
  readonly duplicateFirst: readonly { readonly column: keyof ChangeRow; readonly direction: 'asc' | 'desc' }[];
  readonly deletionType: ChangeRow['event_type'];
  readonly columns: readonly (keyof ChangeRow)[];
};

/** The change-table columns that `_current` keeps, with their types. */
export function currentColumns(): readonly Column<ChangeRow>[] {
  return CURRENT_STATE.columns.map((name) => {
    const column = CHANGES_TABLE.columns.find((c) => c.name === name);
    if (column === undefined) throw new Error(`CURRENT_STATE names "${name}", which CHANGES_TABLE lacks`);
    return column;
  });
}

/**
 * A tombstone's columns: the entity key and the ordering terms of its deleting event, which is
 * all it takes to refuse an older event of a deleted entity.
 */
export const TOMBSTONE_COLUMN_NAMES: readonly string[] = [
  ...new Set([...CURRENT_STATE.key, ...CURRENT_STATE.latestFirst.map((t) => t.column)]),
];

/** The change-table columns a tombstone keeps, with their types. */
export function tombstoneColumns(): readonly Column<ChangeRow>[] {
  return TOMBSTONE_COLUMN_NAMES.map((name) => {
    const column = CHANGES_TABLE.columns.find((c) => c.name === name);
    if (column === undefined) throw new Error(`CURRENT_STATE names "${name}", which CHANGES_TABLE lacks`);
    return column;
  });
}

export function historyViewName(table: string): string {
  return `${table}_history`;
}

/** What `_current` keeps of an event to tell which of two events of an entity is the latest. */
export type LatestKey = Pick<ChangeRow, 'version' | 'event_time' | 'event_id'>;

/**
 * Negative when `a` is later than `b` by `CURRENT_STATE.latestFirst`, positive when earlier, 0
 * for the same event (a redelivery). Sorting with it puts the winner first.
 */
export function compareLatest(a: LatestKey, b: LatestKey): number {
  if (a.version !== b.version) return b.version - a.version;
  const at = a.event_time.getTime();
  const bt = b.event_time.getTime();
  if (at !== bt) return bt - at;
  return a.event_id < b.event_id ? -1 : a.event_id > b.event_id ? 1 : 0;
}
