import type { TableField, TableMetadata } from '@google-cloud/bigquery';
import { AppError } from '../../errors';
import type { ChangeRow, RejectedRow, RunRecord } from '../../ports';

/**
 * The tables the BigQuery adapter owns, column for column the same as the DuckDB warehouse's
 * (`shared/adapters/local/duckdb-warehouse.ts`), so a query written locally runs on BigQuery.
 */

export type ColumnType = 'STRING' | 'INT64' | 'JSON' | 'TIMESTAMP';

/** One column of a table this adapter owns: its schema and how a row supplies its value. */
export interface ColumnSpec<R> {
  readonly name: string;
  readonly type: ColumnType;
  readonly nullable?: boolean;
  readonly value: (row: R) => unknown;
}

/** A value the Storage Write JSONWriter encodes: TIMESTAMP as Date, JSON as text, INT64 as number. */
export type WriterValue = string | number | Date | null;
export type WriterRow = Record<string, WriterValue>;

export const CHANGE_COLUMNS: readonly ColumnSpec<ChangeRow>[] = [
  { name: 'event_id', type: 'STRING', value: (r) => r.event_id },
  { name: 'event_type', type: 'STRING', value: (r) => r.event_type },
  { name: 'source', type: 'STRING', value: (r) => r.source },
  { name: 'entity_id', type: 'STRING', value: (r) => r.entity_id },
  { name: 'version', type: 'INT64', value: (r) => r.version },
  { name: 'data', type: 'JSON', nullable: true, value: (r) => r.data },
  { name: 'event_time', type: 'TIMESTAMP', value: (r) => r.event_time },
  { name: 'publish_time', type: 'TIMESTAMP', value: (r) => r.publish_time },
  { name: 'ingested_at', type: 'TIMESTAMP', value: (r) => r.ingested_at },
  { name: 'delivery_attempt', type: 'INT64', nullable: true, value: (r) => r.delivery_attempt },
  { name: 'message_id', type: 'STRING', value: (r) => r.message_id },
];

export const REJECTED_COLUMNS: readonly ColumnSpec<RejectedRow>[] = [
  { name: 'message_id', type: 'STRING', nullable: true, value: (r) => r.message_id },
  { name: 'subscription', type: 'STRING', nullable: true, value: (r) => r.subscription },
  { name: 'reason', type: 'STRING', value: (r) => r.reason },
  { name: 'payload', type: 'STRING', value: (r) => r.payload },
  { name: 'received_at', type: 'TIMESTAMP', value: (r) => r.received_at },
];

export const RUN_COLUMNS: readonly ColumnSpec<RunRecord>[] = [
  { name: 'run_id', type: 'STRING', value: (r) => r.runId },
  { name: 'source', type: 'STRING', value: (r) => r.source },
  { name: 'kind', type: 'STRING', value: (r) => r.kind },
  { name: 'started_at', type: 'TIMESTAMP', value: (r) => r.startedAt },
  { name: 'ended_at', type: 'TIMESTAMP', value: (r) => r.endedAt },
  { name: 'rows_read', type: 'INT64', value: (r) => r.rowsRead },
  { name: 'rows_written', type: 'INT64', value: (r) => r.rowsWritten },
  { name: 'status', type: 'STRING', value: (r) => r.status },
  { name: 'error', type: 'STRING', nullable: true, value: (r) => r.error },
  { name: 'details', type: 'JSON', value: (r) => JSON.stringify(r.details) },
];

export const REJECTED_TABLE = '_rejected';
export const RUNS_TABLE = '_runs';

export function changesTable(table: string): string {
  return `${table}_changes`;
}

export function currentView(table: string): string {
  return `${table}_current`;
}

export function tableFields<R>(columns: readonly ColumnSpec<R>[]): TableField[] {
  return columns.map((c) => ({ name: c.name, type: c.type, mode: c.nullable === true ? 'NULLABLE' : 'REQUIRED' }));
}

/**
 * `<table>_changes`: partitioned by day on `event_time`, the time the change was detected, which
 * is what analysts filter on ("what changed yesterday") and is the same for every redelivery of
 * an event (unlike `ingested_at`), so duplicates land in the same partition as the original.
 * The poller stamps it at detection, so appends still go to the newest partitions. Clustered by
 * `entity_id`, the column the `_current` view partitions by and point lookups filter on.
 * https://cloud.google.com/bigquery/docs/partitioned-tables#date_timestamp_partitioned_tables
 */
export function changesTableMetadata(): TableMetadata {
  return {
    schema: { fields: tableFields(CHANGE_COLUMNS) },
    timePartitioning: { type: 'DAY', field: 'event_time' },
    clustering: { fields: ['entity_id'] },
    description: 'changefeed: one row per change event as the loader received it (append-only).',
  };
}

export function rejectedTableMetadata(): TableMetadata {
  return {
    schema: { fields: tableFields(REJECTED_COLUMNS) },
    timePartitioning: { type: 'DAY', field: 'received_at' },
    description: 'changefeed: push messages that can never be valid, with the reason.',
  };
}

export function runsTableMetadata(): TableMetadata {
  return {
    schema: { fields: tableFields(RUN_COLUMNS) },
    timePartitioning: { type: 'DAY', field: 'started_at' },
    clustering: { fields: ['source'] },
    description: 'changefeed: one audit row per poll cycle and batch run.',
  };
}

/** A fully qualified table reference for GoogleSQL: `` `project`.`dataset`.`table` ``. */
export function tableRef(projectId: string, dataset: string, table: string): string {
  return [projectId, dataset, table].map(quote).join('.');
}

/** Quotes one identifier with backticks; names are validated by the config schema, this keeps odd ones safe. */
export function quote(name: string): string {
  return `\`${name.replaceAll('\\', '\\\\').replaceAll('`', '\\`')}\``;
}

/**
 * The latest state per entity, as DuckDB's view defines it: duplicates of an event id
 * (redeliveries) count once; the latest event is the highest version, then the latest event
 * time, then the smallest event id so the choice is deterministic; entities whose latest event
 * is a deletion are left out. `WHERE TRUE`: GoogleSQL accepts QUALIFY only beside a WHERE,
 * GROUP BY or HAVING clause.
 * https://cloud.google.com/bigquery/docs/reference/standard-sql/query-syntax#qualify_clause
 */
export function currentViewSql(projectId: string, dataset: string, table: string): string {
  return `CREATE OR REPLACE VIEW ${tableRef(projectId, dataset, currentView(table))} AS
WITH unique_events AS (
  SELECT * FROM ${tableRef(projectId, dataset, changesTable(table))}
  WHERE TRUE
  QUALIFY ROW_NUMBER() OVER (PARTITION BY event_id ORDER BY ingested_at, message_id) = 1
), latest AS (
  SELECT * FROM unique_events
  WHERE TRUE
  QUALIFY ROW_NUMBER() OVER (PARTITION BY source, entity_id ORDER BY version DESC, event_time DESC, event_id) = 1
)
SELECT entity_id, version, data, event_id, event_time, source FROM latest WHERE event_type != 'deleted'`;
}

/**
 * Converts one row to what the Storage Write JSONWriter encodes, checking every value first: the
 * API refuses a whole request for one bad row, so a bad row is refused here, before anything is
 * sent, with `WAREHOUSE.INVALID_ROW` (not retryable) naming the row and the column.
 */
export function writerRow<R>(columns: readonly ColumnSpec<R>[], row: R, where: () => string): WriterRow {
  const out: WriterRow = {};
  for (const column of columns) {
    const value = column.value(row);
    const invalid = (expected: string): AppError =>
      new AppError('WAREHOUSE.INVALID_ROW', `${where()}: ${column.name} must be ${expected}`, {
        retryable: false,
        details: { column: column.name },
      });
    if (value === null || value === undefined) {
      if (column.nullable !== true) throw invalid('set');
      out[column.name] = null;
      continue;
    }
    switch (column.type) {
      case 'STRING':
        if (typeof value !== 'string') throw invalid('a string');
        out[column.name] = value;
        break;
      case 'JSON':
        if (typeof value !== 'string' || !isJsonText(value)) throw invalid('JSON text');
        out[column.name] = value;
        break;
      case 'INT64':
        if (typeof value !== 'number' || !Number.isSafeInteger(value)) throw invalid('an integer');
        out[column.name] = value;
        break;
      case 'TIMESTAMP':
        if (!(value instanceof Date) || Number.isNaN(value.getTime())) throw invalid('a valid Date');
        out[column.name] = value;
        break;
    }
  }
  return out;
}

function isJsonText(text: string): boolean {
  try {
    JSON.parse(text);
    return true;
  } catch {
    return false;
  }
}
