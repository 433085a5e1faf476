import {
  BIGINT,
  DuckDBDataChunk,
  INTEGER,
  TIMESTAMPTZ,
  timestampTZValue,
  VARCHAR,
  type DuckDBConnection,
  type DuckDBType,
  type DuckDBValue,
} from '@duckdb/node-api';
import { checkedValue, invalidJsonError, isJsonText, type Column, type ColumnType } from '../../warehouse';
import { ident } from './duckdb-tables';

/** DuckDB's vector size: a data chunk holds at most this many rows. */
const CHUNK_ROWS = 2048;

/** JSON is VARCHAR underneath; the appender stores the text as it is. */
const CHUNK_TYPE: Readonly<Record<ColumnType, DuckDBType>> = {
  string: VARCHAR,
  json: VARCHAR,
  int64: BIGINT,
  int32: INTEGER,
  timestamp: TIMESTAMPTZ,
};

function chunkValue(type: ColumnType, value: string | number | Date | null): DuckDBValue {
  if (value === null) return null;
  switch (type) {
    case 'int64':
      return BigInt(value as number);
    case 'timestamp':
      return timestampTZValue(BigInt((value as Date).getTime()) * 1000n);
    default:
      return value as string | number;
  }
}

/**
 * Appends `rows` to `table` (in `schema`, e.g. `temp` for a stage) a column at a time, in data
 * chunks of 2048 rows: one native call per chunk column instead of one per cell, about a fifth
 * less time than the row appender for change rows. Every value is checked first (`checkedValue`),
 * except JSON text, which is then checked for the whole table in one `json_valid` scan: the
 * table must hold only these rows (a stage emptied before the call). A bad row rejects the call
 * with `WAREHOUSE.INVALID_ROW` naming it (`where`) and the column; the caller's transaction
 * rollback discards what was appended.
 */
export async function appendChunks<R>(
  c: DuckDBConnection,
  table: string,
  schema: 'main' | 'temp',
  columns: readonly Column<R>[],
  rows: readonly R[],
  where: (index: number) => string,
): Promise<void> {
  const types = columns.map((col) => CHUNK_TYPE[col.type]);
  const appender = schema === 'temp' ? await c.createAppender(table, 'main', 'temp') : await c.createAppender(table);
  try {
    for (let start = 0; start < rows.length; start += CHUNK_ROWS) {
      const part = rows.slice(start, start + CHUNK_ROWS);
      const values = columns.map((column) =>
        part.map((row, i) =>
          chunkValue(
            column.type,
            checkedValue(column, row, () => where(start + i), { parseJson: false }),
          ),
        ),
      );
      const chunk = DuckDBDataChunk.create(types, part.length);
      chunk.setColumns(values);
      appender.appendDataChunk(chunk);
    }
    appender.flushSync();
  } finally {
    appender.closeSync();
  }
  await checkJsonColumns(c, schema === 'temp' ? `temp.main.${ident(table)}` : ident(table), columns, rows, where);
}

/** Refuses the first row whose JSON column holds text that is not JSON. */
async function checkJsonColumns<R>(
  c: DuckDBConnection,
  table: string,
  columns: readonly Column<R>[],
  rows: readonly R[],
  where: (index: number) => string,
): Promise<void> {
  const json = columns.filter((col) => col.type === 'json');
  if (json.length === 0) return;
  const bad = json.map((col) => `count(*) FILTER (WHERE NOT json_valid(${ident(col.name)}))`).join(', ');
  const reader = await c.runAndReadAll(`SELECT ${bad} FROM ${table}`);
  const counts = reader.getRows()[0] ?? [];
  json.forEach((column, k) => {
    if (Number(counts[k] ?? 0) === 0) return;
    // Rare: find which row, in JavaScript, to name it as the row-by-row check would.
    const index = rows.findIndex((row) => {
      const value = column.value(row);
      return typeof value === 'string' && !isJsonText(value);
    });
    throw invalidJsonError(column.name, where(Math.max(index, 0)));
  });
}
