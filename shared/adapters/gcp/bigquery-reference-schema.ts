import type { TableField } from '@google-cloud/bigquery';
import { AppError } from '../../errors';
import type { JsonRecord } from '../../ports';
import { ndjsonPieces } from './bigquery-ndjson-load';
import { quote } from './bigquery-tables';

/**
 * Schemas of reference tables, inferred from the records themselves (never BigQuery's
 * autodetect, which samples only the first rows: a key seen first in row 600 would fail the load).
 * Top-level keys become columns in first-seen order: booleans BOOL, integers INT64, other numbers
 * FLOAT64 (INT64 and FLOAT64 together: FLOAT64), strings STRING; objects, arrays, keys whose
 * values have different JSON types, and keys that are always null become JSON, which holds
 * anything and so never fails a later merge. Every row also gets `_loaded_at`, as in DuckDB.
 */

/** The column reference tables get with the time of the load that wrote each row. */
export const REFERENCE_LOADED_AT_COLUMN = '_loaded_at';

export type InferredType = 'BOOL' | 'INT64' | 'FLOAT64' | 'STRING' | 'JSON';

export interface InferredColumn {
  readonly name: string;
  /** Null when every value was null or missing. */
  readonly type: InferredType | null;
}

/** Classic BigQuery column names; load jobs refuse others. */
const COLUMN_NAME = /^[A-Za-z_][A-Za-z0-9_]{0,299}$/;

export function inferColumns(records: readonly JsonRecord[]): InferredColumn[] {
  const types = new Map<string, InferredType | null>();
  const byLowerName = new Map<string, string>();
  for (const record of records) {
    for (const [name, value] of Object.entries(record)) {
      if (name === REFERENCE_LOADED_AT_COLUMN) continue;
      if (!types.has(name)) {
        if (!COLUMN_NAME.test(name)) {
          throw new AppError(
            'WAREHOUSE.INVALID_COLUMN',
            `The key "${name}" cannot be a BigQuery column name (letters, digits and _, not starting with a digit)`,
            { retryable: false, details: { column: name } },
          );
        }
        const other = byLowerName.get(name.toLowerCase());
        if (other !== undefined) {
          throw new AppError(
            'WAREHOUSE.INVALID_COLUMN',
            `The keys "${other}" and "${name}" differ only in case; BigQuery column names do not`,
            { retryable: false, details: { column: name } },
          );
        }
        byLowerName.set(name.toLowerCase(), name);
        types.set(name, null);
      }
      types.set(name, unify(types.get(name) ?? null, typeOf(value)));
    }
  }
  return [...types].map(([name, type]) => ({ name, type }));
}

function typeOf(value: unknown): InferredType | null {
  if (value === null || value === undefined) return null;
  switch (typeof value) {
    case 'boolean':
      return 'BOOL';
    case 'number':
      return Number.isSafeInteger(value) ? 'INT64' : 'FLOAT64';
    case 'string':
      return 'STRING';
    default:
      return 'JSON';
  }
}

function unify(a: InferredType | null, b: InferredType | null): InferredType | null {
  if (a === null) return b;
  if (b === null || a === b) return a;
  if ((a === 'INT64' && b === 'FLOAT64') || (a === 'FLOAT64' && b === 'INT64')) return 'FLOAT64';
  return 'JSON';
}

export function fieldsOf(columns: readonly InferredColumn[]): TableField[] {
  return [...columns.map((c) => ({ name: c.name, type: c.type ?? 'JSON', mode: 'NULLABLE' })), loadedAtField()];
}

function loadedAtField(): TableField {
  return { name: REFERENCE_LOADED_AT_COLUMN, type: 'TIMESTAMP', mode: 'NULLABLE' };
}

/** What a merge must do to the existing table before its rows fit, and the staging table's schema. */
export interface AlignedSchema {
  /** The staging table's columns: the target's names, and the target's types after widening. */
  readonly stage: TableField[];
  /** Columns the target lacks (added as NULLABLE before the MERGE). */
  readonly add: TableField[];
  /** INT64 columns that now receive fractional numbers, widened to FLOAT64 in place. */
  readonly widen: string[];
  /** Columns whose type BigQuery cannot change in place, rewritten as STRING or JSON. */
  readonly rewrite: { readonly name: string; readonly to: 'STRING' | 'JSON' }[];
  /** Every column of the target after the changes above. */
  readonly target: TableField[];
}

/** BigQuery reports legacy type names in table schemas. */
function standardType(type: string | undefined): string {
  switch (type) {
    case 'INTEGER':
      return 'INT64';
    case 'FLOAT':
      return 'FLOAT64';
    case 'BOOLEAN':
      return 'BOOL';
    case 'STRUCT':
      return 'RECORD';
    default:
      return type ?? 'STRING';
  }
}

const INFERRED_TYPES: ReadonlySet<string> = new Set(['BOOL', 'INT64', 'FLOAT64', 'STRING', 'JSON']);

/**
 * The narrowest type that holds a column's existing values and the new ones, as DuckDB widens:
 * INT64 and FLOAT64 give FLOAT64; a scalar column receiving text becomes STRING; anything
 * receiving objects, arrays or mixed values becomes JSON.
 */
function widened(target: InferredType, records: InferredType): InferredType {
  if (target === records || target === 'JSON') return target;
  if (records === 'JSON') return 'JSON';
  if ((target === 'INT64' && records === 'FLOAT64') || (target === 'FLOAT64' && records === 'INT64')) return 'FLOAT64';
  return 'STRING';
}

/**
 * Lines the inferred columns up with an existing table, as DuckDB's merge does: new keys add
 * columns and a column whose values no longer fit its type is widened (INT64 to FLOAT64 in place;
 * to STRING or JSON by rewriting the table, which BigQuery does atomically), so a source growing
 * its schema never fails a merge. A column of a type we never infer (a TIMESTAMP someone declared)
 * takes text for the load job to parse; anything else there is `WAREHOUSE.SCHEMA_MISMATCH`.
 */
export function alignWithTarget(
  columns: readonly InferredColumn[],
  targetFields: readonly TableField[],
  table: string,
): AlignedSchema {
  const byLowerName = new Map(targetFields.map((f) => [(f.name ?? '').toLowerCase(), f]));
  const stage: TableField[] = [];
  const add: TableField[] = [];
  const widen: string[] = [];
  const rewrite: { name: string; to: 'STRING' | 'JSON' }[] = [];
  const newTypes = new Map<string, string>();
  for (const column of [...columns, { name: REFERENCE_LOADED_AT_COLUMN, type: null }]) {
    const existing = byLowerName.get(column.name.toLowerCase());
    if (existing === undefined) {
      const type = column.name === REFERENCE_LOADED_AT_COLUMN ? 'TIMESTAMP' : (column.type ?? 'JSON');
      const field = { name: column.name, type, mode: 'NULLABLE' };
      add.push(field);
      stage.push(field);
      continue;
    }
    const name = existing.name ?? column.name;
    const targetType = standardType(existing.type);
    const mismatch = (): AppError =>
      new AppError(
        'WAREHOUSE.SCHEMA_MISMATCH',
        `Column "${name}" of "${table}" is ${existing.mode === 'REPEATED' ? 'REPEATED ' : ''}${targetType} ` +
          `but the records have ${column.type ?? 'null'} values: replace the table instead`,
        { retryable: false, details: { table, column: name, targetType, recordType: column.type } },
      );
    if (existing.mode === 'REPEATED' || targetType === 'RECORD') {
      if (column.type !== null) throw mismatch();
      continue;
    }
    let stageType = targetType;
    if (column.type !== null && INFERRED_TYPES.has(targetType)) {
      stageType = widened(targetType as InferredType, column.type);
      if (stageType !== targetType) {
        if (stageType === 'FLOAT64') widen.push(name);
        else rewrite.push({ name, to: stageType as 'STRING' | 'JSON' });
        newTypes.set(name.toLowerCase(), stageType);
      }
    } else if (column.type !== null && column.type !== 'STRING') {
      throw mismatch();
    }
    stage.push({ name, type: stageType, mode: 'NULLABLE' });
  }
  const target = [
    ...targetFields.map((f) => {
      const type = newTypes.get((f.name ?? '').toLowerCase());
      return type === undefined ? f : { ...f, type };
    }),
    ...add,
  ];
  return { stage, add, widen, rewrite, target };
}

/**
 * Statements that make room for the merge: nullable additions, INT64 widened to FLOAT64 in place,
 * and one table rewrite for columns BigQuery cannot retype in place (readers see the table before
 * or after the rewrite, with the same rows either way).
 * https://cloud.google.com/bigquery/docs/managing-table-schemas#change_a_columns_data_type
 */
export function alterStatements(ref: string, aligned: AlignedSchema): string[] {
  const statements: string[] = [];
  if (aligned.add.length > 0) {
    const clauses = aligned.add.map((f) => `ADD COLUMN IF NOT EXISTS ${quote(f.name ?? '')} ${f.type ?? 'JSON'}`);
    statements.push(`ALTER TABLE ${ref} ${clauses.join(', ')}`);
  }
  for (const name of aligned.widen) {
    statements.push(`ALTER TABLE ${ref} ALTER COLUMN ${quote(name)} SET DATA TYPE FLOAT64`);
  }
  if (aligned.rewrite.length > 0) {
    const replaced = aligned.rewrite.map(({ name, to }) => {
      const column = quote(name);
      return `${to === 'JSON' ? `TO_JSON(${column})` : `CAST(${column} AS STRING)`} AS ${column}`;
    });
    statements.push(`CREATE OR REPLACE TABLE ${ref} AS SELECT * REPLACE (${replaced.join(', ')}) FROM ${ref}`);
  }
  return statements;
}

/**
 * Newline-delimited JSON for a load job, one record per line with exactly the staged columns
 * (a JSON column's value written as the JSON itself) and `_loaded_at`, in pieces of about 1 MiB
 * (`ndjsonPieces`).
 * https://cloud.google.com/bigquery/docs/loading-data-cloud-storage-json#loading_json_data_into_a_json_column
 */
export function ndjsonChunks(
  records: readonly JsonRecord[],
  fields: readonly TableField[],
  loadedAt: Date,
): Generator<string> {
  const columns = fields.filter((f) => f.name !== undefined && f.name !== REFERENCE_LOADED_AT_COLUMN);
  const loadedAtText = loadedAt.toISOString();
  function* lines(): Generator<string> {
    for (const record of records) {
      const line: Record<string, unknown> = {};
      for (const field of columns) {
        const name = field.name ?? '';
        line[name] = ndjsonValue(record[name], field.type);
      }
      line[REFERENCE_LOADED_AT_COLUMN] = loadedAtText;
      yield JSON.stringify(line);
    }
  }
  return ndjsonPieces(lines());
}

/**
 * A STRING column widened from numbers or booleans gets their text, as CAST(... AS STRING) gives
 * (JSON text of a number or boolean is that text; of an object, its JSON).
 */
function ndjsonValue(value: unknown, type: string | undefined): unknown {
  if (value === undefined || value === null) return null;
  if (type === 'STRING' && typeof value !== 'string') {
    return JSON.stringify(value);
  }
  return value;
}

/**
 * The MERGE that upserts the staged rows by key: a matched row takes every column from the
 * record (columns the record lacks become NULL, as a deleted-then-inserted row would in DuckDB),
 * an unmatched record is inserted. A nested key (`data.id`) is compared as JSON text.
 * https://cloud.google.com/bigquery/docs/reference/standard-sql/dml-syntax#merge_statement
 */
export function mergeSql(
  targetRef: string,
  stageRef: string,
  aligned: AlignedSchema,
  keyPath: readonly string[],
  table: string,
): string {
  const staged = new Set(aligned.stage.map((f) => (f.name ?? '').toLowerCase()));
  const keyColumn = aligned.stage.find((f) => (f.name ?? '').toLowerCase() === keyPath[0]?.toLowerCase());
  let on = 'FALSE';
  if (keyColumn !== undefined) {
    const column = quote(keyColumn.name ?? '');
    if (keyPath.length === 1) {
      on =
        keyColumn.type === 'JSON'
          ? `TO_JSON_STRING(T.${column}) = TO_JSON_STRING(S.${column})`
          : `T.${column} = S.${column}`;
    } else if (keyColumn.type === 'JSON') {
      const jsonPath = `$${keyPath
        .slice(1)
        .map((step) => `."${step.replaceAll('\\', '\\\\').replaceAll('"', '\\"')}"`)
        .join('')}`;
      const literal = `'${jsonPath.replaceAll('\\', '\\\\').replaceAll("'", "\\'")}'`;
      on = `TO_JSON_STRING(JSON_QUERY(T.${column}, ${literal})) = TO_JSON_STRING(JSON_QUERY(S.${column}, ${literal}))`;
    } else {
      throw new AppError(
        'WAREHOUSE.INVALID_KEY',
        `The merge key "${keyPath.join('.')}" goes into "${keyColumn.name ?? ''}" of "${table}", which is not JSON`,
        { retryable: false },
      );
    }
  }
  const updates = aligned.target
    .filter((f) => f.mode !== 'REQUIRED' || staged.has((f.name ?? '').toLowerCase()))
    .map((f) => {
      const column = quote(f.name ?? '');
      return `${column} = ${staged.has((f.name ?? '').toLowerCase()) ? `S.${column}` : 'NULL'}`;
    });
  const columns = aligned.stage.map((f) => quote(f.name ?? ''));
  return `MERGE ${targetRef} AS T
USING ${stageRef} AS S
ON ${on}
WHEN MATCHED THEN UPDATE SET ${updates.join(', ')}
WHEN NOT MATCHED THEN INSERT (${columns.join(', ')}) VALUES (${columns.map((c) => `S.${c}`).join(', ')})`;
}
