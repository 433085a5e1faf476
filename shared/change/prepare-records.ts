import type { JsonRecord } from '../ports';
import { readPath } from '../source/dot-path';

/** Why records were left out of a load; all of them are counted and logged, none dropped silently. */
export interface SkippedCounts {
  /** Not a JSON object (a string, a number, null, an array...). */
  readonly notObject: number;
  /** No usable value at `idField` (absent, null, "", or an object). */
  readonly missingId: number;
  /** Same id as an earlier record of the same run; the first one is kept. */
  readonly duplicateId: number;
}

export interface PreparedRecords {
  readonly records: JsonRecord[];
  /** The id of each kept record, at the same position as in `records`. */
  readonly ids: string[];
  readonly skipped: SkippedCounts;
  /** Positions (0-based, across pages) of the first few skipped records, for the log line. */
  readonly firstSkippedAt: readonly number[];
}

const SKIPPED_POSITIONS_LOGGED = 10;

/** The id of a record as text, or undefined when it has none a table could be keyed by. */
export function recordId(record: JsonRecord, idField: string): string | undefined {
  const id = readPath(record, idField);
  if (typeof id === 'string') return id === '' ? undefined : id;
  if (typeof id === 'number' && Number.isFinite(id)) return String(id);
  if (typeof id === 'boolean' || typeof id === 'bigint') return String(id);
  return undefined;
}

/**
 * Keeps the records a table can hold: objects with an id, each id once. A duplicate keeps the
 * first occurrence, as the poller does, so both sides of the pipeline agree on which one wins.
 */
export function prepareRecords(raw: readonly unknown[], idField: string): PreparedRecords {
  const records: JsonRecord[] = [];
  const ids: string[] = [];
  const seen = new Set<string>();
  const firstSkippedAt: number[] = [];
  let notObject = 0;
  let missingId = 0;
  let duplicateId = 0;
  const skip = (at: number): void => {
    if (firstSkippedAt.length < SKIPPED_POSITIONS_LOGGED) firstSkippedAt.push(at);
  };
  raw.forEach((value, at) => {
    if (value === null || typeof value !== 'object' || Array.isArray(value)) {
      notObject += 1;
      skip(at);
      return;
    }
    const record = value as JsonRecord;
    const id = recordId(record, idField);
    if (id === undefined) {
      missingId += 1;
      skip(at);
      return;
    }
    if (seen.has(id)) {
      duplicateId += 1;
      skip(at);
      return;
    }
    seen.add(id);
    records.push(record);
    ids.push(id);
  });
  return { records, ids, skipped: { notObject, missingId, duplicateId }, firstSkippedAt };
}
