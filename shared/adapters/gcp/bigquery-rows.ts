import type { TableField } from '@google-cloud/bigquery';

/**
 * Turns the Node client's query rows into the plain, JSON-friendly objects the DuckDB warehouse's
 * `query` returns, so tests and the CLI read both alike: INT64 as a number when exactly
 * representable (a string otherwise; query with `wrapIntegers: true` so none is rounded first),
 * TIMESTAMP/DATE/DATETIME/TIME/GEOGRAPHY as their text, JSON parsed, NUMERIC as a number up to 15
 * significant digits, BYTES as base64, RECORDs and REPEATED fields as objects and arrays.
 * https://cloud.google.com/nodejs/docs/reference/bigquery/latest/bigquery/bigquery#_google_cloud_bigquery_BigQuery_query_member_1
 */
export function plainRows(rows: readonly unknown[], fields: readonly TableField[]): Record<string, unknown>[] {
  return rows.map((row) => plainRecord(row, fields));
}

function plainRecord(row: unknown, fields: readonly TableField[]): Record<string, unknown> {
  const source = (typeof row === 'object' && row !== null ? row : {}) as Record<string, unknown>;
  const out: Record<string, unknown> = {};
  for (const field of fields) {
    if (field.name === undefined) continue;
    out[field.name] = plainField(source[field.name], field);
  }
  return out;
}

function plainField(value: unknown, field: TableField): unknown {
  if (value === null || value === undefined) return null;
  if (field.mode === 'REPEATED' && Array.isArray(value)) {
    const element: TableField = { ...field, mode: 'NULLABLE' };
    return value.map((v: unknown) => plainField(v, element));
  }
  switch (field.type) {
    case 'RECORD':
    case 'STRUCT':
      return plainRecord(value, field.fields ?? []);
    case 'JSON':
      return typeof value === 'string' ? parseJson(value) : value;
    case 'INTEGER':
    case 'INT64':
      return plainInteger(value);
    case 'NUMERIC':
    case 'BIGNUMERIC':
      return plainDecimal(value);
    case 'BYTES':
      return Buffer.isBuffer(value) ? value.toString('base64') : value;
    default:
      return wrappedValue(value);
  }
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return text;
  }
}

/** A BigQueryInt (`wrapIntegers`) or a plain number. */
function plainInteger(value: unknown): unknown {
  const text = wrappedValue(value);
  const asText = typeof text === 'string' ? text : typeof text === 'number' ? String(text) : undefined;
  if (asText === undefined || !/^-?\d+$/.test(asText)) return text;
  const n = BigInt(asText);
  return n >= BigInt(Number.MIN_SAFE_INTEGER) && n <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(n) : asText;
}

/** The double nearest a decimal is exact up to 15 significant digits; wider ones stay text. */
const MAX_EXACT_DECIMAL_DIGITS = 15;

/** NUMERIC arrives as a Big.js value (or text); its `toString()` is the exact decimal. */
function plainDecimal(value: unknown): unknown {
  const text = typeof value === 'object' && value !== null ? (value as { toString(): string }).toString() : value;
  if (typeof text !== 'string') return text;
  const digits = text.replace(/^-/, '').replace('.', '').replace(/^0+/, '');
  return digits.length <= MAX_EXACT_DECIMAL_DIGITS ? Number(text) : text;
}

/** The client wraps TIMESTAMP, DATE, DATETIME, TIME, GEOGRAPHY and INT64 in objects with a `value`. */
function wrappedValue(value: unknown): unknown {
  if (typeof value === 'object' && value !== null && 'value' in value) return value.value;
  return value;
}
