import { AppError } from '@changefeed/shared/errors';

/** Errors a warehouse raises for one row that no retry can store. */
const ROW_ERRORS: ReadonlySet<string> = new Set(['WAREHOUSE.INVALID_ROW', 'WAREHOUSE.ROW_TOO_LARGE']);

/** True for an error that names one row the warehouse will never store. */
export function isRowError(e: unknown): e is AppError {
  return e instanceof AppError && ROW_ERRORS.has(e.code);
}

/** What became of one row: appended, refused for good (that row alone), or failed with its append. */
export type RowResult =
  | { readonly ok: true }
  | { readonly ok: false; readonly refused: true; readonly error: AppError }
  | { readonly ok: false; readonly refused: false; readonly error: unknown };

/**
 * Appends `rows` with `append`; when the warehouse refuses a row for good, halves the rows until
 * that row is alone, so its neighbours land. Any other failure fails every row of that append.
 * Returns one result per row, in order; never rejects.
 */
export async function appendIsolating<R>(
  rows: readonly R[],
  append: (rows: readonly R[]) => Promise<void>,
): Promise<RowResult[]> {
  try {
    await append(rows);
    return rows.map(() => ({ ok: true }));
  } catch (e: unknown) {
    if (!isRowError(e)) return rows.map(() => ({ ok: false, refused: false, error: e }));
    if (rows.length === 1) return [{ ok: false, refused: true, error: e }];
    const half = Math.ceil(rows.length / 2);
    const first = await appendIsolating(rows.slice(0, half), append);
    const second = await appendIsolating(rows.slice(half), append);
    return [...first, ...second];
  }
}
