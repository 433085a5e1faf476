import { timestampTZValue, type DuckDBAppender, type DuckDBConnection } from '@duckdb/node-api';
import { checkedValue, type Column, type ColumnType, type TableSpec } from '../../warehouse';

/** The DuckDB type of each logical column type of `shared/warehouse/tables.ts`. */
export const DUCKDB_TYPE: Readonly<Record<ColumnType, string>> = {
  string: 'VARCHAR',
  json: 'JSON',
  int64: 'BIGINT',
  int32: 'INTEGER',
  timestamp: 'TIMESTAMPTZ',
};

/** Quotes an identifier. Names are validated by the config schema; quoting keeps odd ones safe. */
export function ident(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

/**
 * `CREATE TABLE IF NOT EXISTS` for a table described in `shared/warehouse/tables.ts`. DuckDB has
 * no partitions; its zonemaps prune by insertion order, which follows `event_time` already.
 */
export function createTableSql<R>(table: string, spec: Pick<TableSpec<R>, 'columns'>, temporary = false): string {
  const ddl = spec.columns.map((col) => `${ident(col.name)} ${DUCKDB_TYPE[col.type]}`).join(', ');
  return `CREATE ${temporary ? 'TEMP ' : ''}TABLE IF NOT EXISTS ${ident(table)} (${ddl})`;
}

/** Appends one checked cell; see `checkedValue` for what is refused. */
export function appendCell<R>(appender: DuckDBAppender, column: Column<R>, row: R, where: () => string): void {
  const value = checkedValue(column, row, where);
  if (value === null) {
    appender.appendNull();
    return;
  }
  switch (column.type) {
    case 'string':
    case 'json':
      appender.appendVarchar(value as string);
      return;
    case 'int64':
      appender.appendBigInt(BigInt(value as number));
      return;
    case 'int32':
      appender.appendInteger(value as number);
      return;
    case 'timestamp':
      appender.appendTimestampTZ(timestampTZValue(BigInt((value as Date).getTime()) * 1000n));
      return;
  }
}

/** The columns a SELECT would return, by lower-cased name (DuckDB matches names case-insensitively). */
export async function describeColumns(
  c: DuckDBConnection,
  select: string,
): Promise<Map<string, { readonly column: string; readonly type: string }>> {
  const reader = await c.runAndReadAll(`SELECT column_name, column_type FROM (DESCRIBE ${select})`);
  const columns = new Map<string, { column: string; type: string }>();
  for (const [column, type] of reader.getRows()) {
    columns.set(String(column).toLowerCase(), { column: String(column), type: String(type) });
  }
  return columns;
}

/** The kind of relation a name refers to in the current schema, if any. */
export async function relationKind(c: DuckDBConnection, name: string): Promise<'table' | 'view' | undefined> {
  const reader = await c.runAndReadAll(
    `SELECT 'table' FROM duckdb_tables() WHERE NOT temporary AND schema_name = current_schema() AND lower(table_name) = lower($1)
     UNION ALL
     SELECT 'view' FROM duckdb_views() WHERE NOT temporary AND schema_name = current_schema() AND lower(view_name) = lower($1)`,
    [name],
  );
  const kind = reader.getRows()[0]?.[0];
  return kind === 'table' || kind === 'view' ? kind : undefined;
}
