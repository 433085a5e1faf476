import { AppError, errorMessage } from '../../errors';

/** The error class DuckDB puts in front of its messages, e.g. `Conversion Error: ...`. */
function duckDbErrorType(e: unknown): string | undefined {
  const match = /^([A-Za-z][A-Za-z ]*?) Error: /.exec(errorMessage(e));
  return match?.[1];
}

/**
 * Errors that the same statement with the same data would hit again. Everything else (I/O,
 * out of memory, transaction conflicts, interrupts, unknown) may pass on a retry.
 * https://duckdb.org/docs/stable/dev/internal_errors (the error types)
 */
const PERMANENT_ERROR_TYPES = new Set([
  'Binder',
  'Catalog',
  'Constraint',
  'Conversion',
  'Dependency',
  'Invalid',
  'Invalid Input',
  'Invalid type',
  'Mismatch Type',
  'Not implemented',
  'Out of Range',
  'Parser',
  'Permission',
  'Syntax',
]);

export function warehouseError(code: string, what: string, e: unknown): AppError {
  if (e instanceof AppError) return e;
  const type = duckDbErrorType(e);
  const retryable = type === undefined || !PERMANENT_ERROR_TYPES.has(type);
  const firstLine = errorMessage(e).split('\n')[0] ?? '';
  return new AppError(code, `Warehouse: ${what} failed: ${firstLine}`, {
    retryable,
    cause: e,
    details: { duckDbErrorType: type ?? null },
  });
}

export function openError(file: string, e: unknown): AppError {
  const message = errorMessage(e);
  if (message.includes('Could not set lock')) {
    const pid = /PID (\d+)/.exec(message)?.[1];
    return new AppError(
      'WAREHOUSE.LOCKED',
      `Cannot open the warehouse "${file}": another process${pid === undefined ? '' : ` (PID ${pid})`} holds it, ` +
        'probably another changefeed process. DuckDB allows one process per file, even for reading: stop that ' +
        'process, or send queries to it (`changefeed query` does so while `changefeed run` is running).',
      { retryable: true, cause: e, details: { file, pid: pid ?? null } },
    );
  }
  if (message.includes('database does not exist')) {
    return new AppError('WAREHOUSE.NOT_FOUND', `The warehouse "${file}" does not exist yet: nothing was loaded`, {
      retryable: false,
      cause: e,
      details: { file },
    });
  }
  return warehouseError('WAREHOUSE.OPEN_FAILED', `opening "${file}"`, e);
}
