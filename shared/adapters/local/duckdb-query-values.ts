import {
  DuckDBDecimalValue,
  DuckDBTypeId,
  JsonDuckDBValueConverter,
  dateFromTimestampMillisecondsValue,
  dateFromTimestampNanosecondsValue,
  dateFromTimestampSecondsValue,
  dateFromTimestampTZValue,
  dateFromTimestampValue,
  type DuckDBResultReader,
  type DuckDBValue,
  type DuckDBValueConverter,
  type Json,
} from '@duckdb/node-api';

function safeNumber(value: bigint): number | string {
  return value >= BigInt(Number.MIN_SAFE_INTEGER) && value <= BigInt(Number.MAX_SAFE_INTEGER)
    ? Number(value)
    : value.toString();
}

/** ISO 8601 in UTC; infinities and dates beyond JavaScript's range keep DuckDB's text. */
function isoTimestamp(value: DuckDBValue, toDate: (value: DuckDBValue) => Date): string {
  try {
    return toDate(value).toISOString();
  } catch {
    return String(value);
  }
}

/** The double nearest a DECIMAL is exact up to 15 significant digits; wider ones stay text. */
const MAX_EXACT_DECIMAL_DIGITS = 15;

export const jsonFriendly: DuckDBValueConverter<Json> = (value, type, self) => {
  if (value === null) return null;
  switch (type.typeId) {
    case DuckDBTypeId.BIGINT:
    case DuckDBTypeId.UBIGINT:
    case DuckDBTypeId.HUGEINT:
    case DuckDBTypeId.UHUGEINT:
      return typeof value === 'bigint' ? safeNumber(value) : JsonDuckDBValueConverter(value, type, self);
    case DuckDBTypeId.TIMESTAMP_TZ:
      return isoTimestamp(value, dateFromTimestampTZValue);
    case DuckDBTypeId.TIMESTAMP:
      return isoTimestamp(value, dateFromTimestampValue);
    case DuckDBTypeId.TIMESTAMP_S:
      return isoTimestamp(value, dateFromTimestampSecondsValue);
    case DuckDBTypeId.TIMESTAMP_MS:
      return isoTimestamp(value, dateFromTimestampMillisecondsValue);
    case DuckDBTypeId.TIMESTAMP_NS:
      return isoTimestamp(value, dateFromTimestampNanosecondsValue);
    case DuckDBTypeId.DECIMAL:
      if (value instanceof DuckDBDecimalValue && type.width <= MAX_EXACT_DECIMAL_DIGITS) {
        return value.toDouble();
      }
      return JsonDuckDBValueConverter(value, type, self);
    case DuckDBTypeId.VARCHAR:
      if (type.alias === 'JSON' && typeof value === 'string') {
        try {
          return JSON.parse(value) as Json;
        } catch {
          return value;
        }
      }
      return value as string;
    default:
      return JsonDuckDBValueConverter(value, type, self);
  }
};

/**
 * A result's rows as objects keyed by (deduplicated) column name, values made JSON-friendly.
 * Converted here rather than by reader.convertRowObjects: that passes each value the vector's
 * type, which has lost the column's JSON alias, so JSON would stay text.
 */
export function rowObjects(reader: DuckDBResultReader): Record<string, unknown>[] {
  const names = reader.deduplicatedColumnNames();
  const columns = reader.columnTypes().map((type, i) => ({ type, name: names[i] }));
  return reader.getRows().map((row) => {
    const object: Record<string, unknown> = {};
    row.forEach((value, i) => {
      const column = columns[i];
      if (column?.name !== undefined) object[column.name] = jsonFriendly(value, column.type, jsonFriendly);
    });
    return object;
  });
}
