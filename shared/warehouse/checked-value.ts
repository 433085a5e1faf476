import { AppError } from '../errors';
import type { Column } from './tables';
import { valueProblem } from './value-ranges';

/** A value as it goes into a warehouse column: text, a safe integer, a valid Date, or null. */
export type CheckedValue = string | number | Date | null;

export interface CheckOptions {
  /**
   * False when the caller checks JSON text itself, in bulk after the values are staged (DuckDB's
   * `json_valid` over a whole batch costs a fraction of a `JSON.parse` per value); it must then
   * refuse the row with `invalidJsonError`.
   */
  readonly parseJson?: boolean;
}

/**
 * The value `row` supplies for `column`, checked against the column's type before any warehouse
 * sees it: both DuckDB's appender and the Storage Write API take a bad value for a good one or
 * refuse a whole request for it, so a row that can never be stored is refused here with
 * `WAREHOUSE.INVALID_ROW` (not retryable), naming the row (`where`) and the column. What each
 * type holds is `VALUE_RANGES` (value-ranges.ts), the definition event validation uses too.
 */
export function checkedValue<R>(
  column: Column<R>,
  row: R,
  where: () => string,
  options: CheckOptions = {},
): CheckedValue {
  const value = column.value(row);
  const invalid = (expected: string): AppError =>
    new AppError('WAREHOUSE.INVALID_ROW', `${where()}: ${column.name} must be ${expected}`, {
      retryable: false,
      details: { column: column.name },
    });
  if (value === null || value === undefined) {
    if (column.nullable !== true) throw invalid('set');
    return null;
  }
  const problem = valueProblem(column.type, value);
  if (problem !== undefined || !isScalar(value)) throw invalid(problem ?? 'a scalar');
  if (column.type === 'json' && options.parseJson !== false && !isJsonText(String(value))) throw invalid('JSON text');
  return value;
}

/** What `valueProblem` lets through for some type; narrows for the compiler. */
function isScalar(value: unknown): value is string | number | Date {
  return typeof value === 'string' || typeof value === 'number' || value instanceof Date;
}

/** The error `checkedValue` gives for a JSON column whose text is not JSON, for bulk checkers. */
export function invalidJsonError(column: string, where: string): AppError {
  return new AppError('WAREHOUSE.INVALID_ROW', `${where}: ${column} must be JSON text`, {
    retryable: false,
    details: { column },
  });
}

export function isJsonText(text: string): boolean {
  try {
    JSON.parse(text);
    return true;
  } catch {
    return false;
  }
}
