import type { TableField, TableMetadata } from '@google-cloud/bigquery';
import {
  CURRENT_STATE,
  checkedValue,
  currentColumns,
  type CheckedValue,
  type Column,
  type ColumnType,
  type TableSpec,
} from '../../warehouse';
import type { ChangeRow } from '../../ports';

/**
 * The warehouse tables (`shared/warehouse/tables.ts`) rendered for BigQuery: column types,
 * partitioning and clustering come from each `TableSpec`, so a column added there reaches
 * BigQuery and DuckDB alike.
 */

/** The one place a logical column type becomes a BigQuery one. */
const BIGQUERY_TYPES: Readonly<Record<ColumnType, string>> = {
  string: 'STRING',
  int64: 'INT64',
  // BigQuery has no 32-bit integer; the value check (`checkedValue`) still bounds it.
  int32: 'INT64',
  json: 'JSON',
  timestamp: 'TIMESTAMP',
};

export function bigQueryType(type: ColumnType): string {
  return BIGQUERY_TYPES[type];
}

/** A value the Storage Write JSONWriter encodes: TIMESTAMP as Date, JSON as text, INT64 as number. */
export type WriterRow = Record<string, CheckedValue>;

export function tableFields<R>(columns: readonly Column<R>[]): TableField[] {
  return columns.map((c) => ({
    name: c.name,
    type: bigQueryType(c.type),
    mode: c.nullable === true ? 'NULLABLE' : 'REQUIRED',
    description: c.description,
  }));
}

/**
 * A table's creation metadata from its spec: partitioned by day on `partitionBy` (appends go to
 * the newest partitions, and analysts filter on that column), clustered by `clusterBy`.
 * https://cloud.google.com/bigquery/docs/partitioned-tables#date_timestamp_partitioned_tables
 * https://cloud.google.com/bigquery/docs/clustered-tables
 */
export function tableMetadata<R>(spec: TableSpec<R>): TableMetadata {
  const metadata: TableMetadata = { schema: { fields: tableFields(spec.columns) }, description: spec.description };
  if (spec.partitionBy !== undefined) metadata.timePartitioning = { type: 'DAY', field: spec.partitionBy };
  if (spec.clusterBy !== undefined) metadata.clustering = { fields: [...spec.clusterBy] };
  return metadata;
}

/**
 * `<table>_current` as a table: the columns `CURRENT_STATE` names, taken from the change table,
 * with `CURRENT_STATE.key` as its primary key (NOT ENFORCED: BigQuery never checks it; change
 * data capture needs it to know which row an UPSERT or DELETE replaces) and as its clustering,
 * so a point lookup by entity reads a few blocks. `maxStalenessMs` (change data capture only)
 * lets queries read the last background apply when it is at most that old instead of merging
 * the changes not yet applied at query time.
 * https://cloud.google.com/bigquery/docs/change-data-capture
 * https://cloud.google.com/bigquery/docs/primary-foreign-keys
 */
export function currentTableMetadata(maxStalenessMs: number | undefined): TableMetadata {
  const metadata: TableMetadata = {
    schema: { fields: tableFields(currentColumns()) },
    clustering: { fields: [...CURRENT_STATE.key] },
    tableConstraints: { primaryKey: { columns: [...CURRENT_STATE.key] } },
    description: 'changefeed: the latest version of each live entity, maintained from its _changes.',
  };
  if (maxStalenessMs !== undefined) metadata.maxStaleness = intervalLiteral(maxStalenessMs);
  return metadata;
}

/** The columns the change data capture writer and the MERGE compaction write to `_current`. */
export function currentFields(): TableField[] {
  return tableFields(currentColumns());
}

/**
 * A duration as BigQuery's canonical INTERVAL text `Y-M D H:M:S[.F]`, the form `maxStaleness`
 * takes in the REST API and reports back, e.g. 15 minutes is `0-0 0 0:15:0`.
 * https://cloud.google.com/bigquery/docs/reference/standard-sql/data-types#interval_type
 */
export function intervalLiteral(ms: number): string {
  const totalSeconds = Math.floor(ms / 1000);
  const fraction = ms % 1000;
  const hours = Math.floor(totalSeconds / 3600);
  const minutes = Math.floor((totalSeconds % 3600) / 60);
  const seconds = totalSeconds % 60;
  const secondsText = fraction === 0 ? String(seconds) : `${seconds}.${String(fraction).padStart(3, '0')}`;
  return `0-0 0 ${hours}:${minutes}:${secondsText}`;
}

/** A fully qualified table reference for GoogleSQL: `` `project`.`dataset`.`table` ``. */
export function tableRef(projectId: string, dataset: string, table: string): string {
  return [projectId, dataset, table].map(quote).join('.');
}

/** Quotes one identifier with backticks; names are validated by the config schema, this keeps odd ones safe. */
export function quote(name: string): string {
  return `\`${name.replaceAll('\\', '\\\\').replaceAll('`', '\\`')}\``;
}

/** A GoogleSQL string literal. */
export function stringLiteral(text: string): string {
  return `'${text.replaceAll('\\', '\\\\').replaceAll("'", "\\'")}'`;
}

/**
 * Converts one row to what the Storage Write JSONWriter encodes, checking every value first
 * (`checkedValue`): the API refuses a whole request for one bad row, so a bad row is refused
 * here, before anything is sent.
 */
export function writerRow<R>(columns: readonly Column<R>[], row: R, where: () => string): WriterRow {
  const out: WriterRow = {};
  for (const column of columns) out[column.name] = checkedValue(column, row, where);
  return out;
}

/** The `_current` columns of a change row, checked like every other row. */
export function currentWriterRow(row: ChangeRow, where: () => string): WriterRow {
  return writerRow(currentColumns(), row, where);
}
