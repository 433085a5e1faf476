import type { ColumnType } from './tables';

/**
 * What each logical column type can hold in *both* warehouses, defined once: the loader's event
 * validation (`parseChangeMessage`) and the warehouses' row check (`checkedValue`) both ask
 * `valueProblem`, so a value that passes validation is one both warehouses store, and a value
 * one of them would refuse (or silently change) is refused before any warehouse sees it.
 *
 * - int64: BigQuery's INT64 and DuckDB's BIGINT hold ±2^63, but the loader carries integers as
 *   JS numbers, exact only to ±(2^53 − 1): `9999999999999999` parses to 10000000000000000. So
 *   the range is the safe integers, where the stored value is the one that was sent.
 * - int32: DuckDB's INTEGER (BigQuery stores it in an INT64).
 * - timestamp: BigQuery's TIMESTAMP, 0001-01-01 00:00:00 to 9999-12-31 23:59:59.999999 UTC
 *   (https://cloud.google.com/bigquery/docs/reference/standard-sql/data-types#timestamp_type);
 *   DuckDB's range is wider, and a JS Date holds years 0 and 10000+ that BigQuery refuses.
 * - string and json: text that has a UTF-8 encoding, i.e. no lone UTF-16 surrogate. A JSON body
 *   can carry one (`"\ud800"`); the Storage Write API refuses the request holding it as invalid
 *   UTF-8, and DuckDB's binding replaces it with U+FFFD (a stored value that was never sent).
 */
export const VALUE_RANGES = {
  int64: { min: Number.MIN_SAFE_INTEGER, max: Number.MAX_SAFE_INTEGER },
  int32: { min: -(2 ** 31), max: 2 ** 31 - 1 },
  timestamp: { min: new Date('0001-01-01T00:00:00.000Z'), max: new Date('9999-12-31T23:59:59.999Z') },
} as const;

/** In unicode mode a surrogate pair is one code point, so this matches only a lone surrogate. */
const LONE_SURROGATE = /\p{Cs}/u;

/** True when `text` can be encoded as UTF-8 (has no lone surrogate). */
export function isStorableText(text: string): boolean {
  return !LONE_SURROGATE.test(text);
}

/**
 * Why `value` cannot be stored in a column of `type` ("an integer", ...: what it must be), or
 * undefined when it can. JSON columns are checked here only as text; whether the text is JSON is
 * `checkedValue`'s job (it may be checked in bulk).
 */
export function valueProblem(type: ColumnType, value: unknown): string | undefined {
  switch (type) {
    case 'string':
      if (typeof value !== 'string') return 'a string';
      return isStorableText(value) ? undefined : 'valid Unicode text (it holds a lone surrogate)';
    case 'json':
      if (typeof value !== 'string') return 'JSON text';
      return isStorableText(value) ? undefined : 'valid Unicode text (it holds a lone surrogate)';
    case 'int64':
      return integerProblem(value, VALUE_RANGES.int64, 'an integer');
    case 'int32':
      return integerProblem(value, VALUE_RANGES.int32, 'a 32-bit integer');
    case 'timestamp': {
      if (!(value instanceof Date) || Number.isNaN(value.getTime())) return 'a valid Date';
      const { min, max } = VALUE_RANGES.timestamp;
      return value < min || value > max ? `a time from ${min.toISOString()} to ${max.toISOString()}` : undefined;
    }
  }
}

function integerProblem(
  value: unknown,
  range: { readonly min: number; readonly max: number },
  what: string,
): string | undefined {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < range.min || value > range.max) {
    return `${what} from ${range.min} to ${range.max}`;
  }
  return undefined;
}
