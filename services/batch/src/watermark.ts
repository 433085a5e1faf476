import type { JsonRecord } from '@changefeed/shared/ports';
import { readPath } from '@changefeed/shared/source';

export interface Watermark {
  /** The new watermark: the largest value seen, never below the previous one. */
  readonly cursor: string | undefined;
  /** Records with no usable value at the cursor field (they are still loaded). */
  readonly missing: number;
}

/**
 * The largest value of `field` over `records`, and over `previous` (so a run never moves the
 * watermark back). Numbers compare numerically when every value is a number (epoch seconds,
 * sequence numbers); otherwise values compare as strings, which orders ISO-8601 timestamps
 * correctly when they share a format and zone (e.g. all `...Z` as `toISOString()` writes them).
 * The watermark is stored as text.
 */
export function nextWatermark(records: readonly JsonRecord[], field: string, previous: string | undefined): Watermark {
  const values: (string | number)[] = [];
  let missing = 0;
  for (const record of records) {
    const value = readPath(record, field);
    if (typeof value === 'number' && Number.isFinite(value)) values.push(value);
    else if (typeof value === 'string' && value !== '') values.push(value);
    else missing += 1;
  }
  const numeric =
    values.every((v) => typeof v === 'number') && (previous === undefined || Number.isFinite(Number(previous)));
  let best: string | number | undefined = previous === undefined ? undefined : numeric ? Number(previous) : previous;
  for (const value of values) {
    if (best === undefined) best = value;
    else if (numeric ? Number(value) > Number(best) : String(value) > String(best)) best = value;
  }
  return { cursor: best === undefined ? undefined : String(best), missing };
}
