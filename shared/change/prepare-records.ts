import type { JsonRecord } from '../ports';
import { readSteps } from '../source/dot-path';

/** Why records were left out of a load; all of them are counted and logged, none dropped silently. */
export interface SkippedCounts {
  /** Not a JSON object (a string, a number, null, an array...). */
  readonly notObject: number;
  /**
   * No usable id at `idField`: absent, null, "", or not a string or an integer (an object, a
   * boolean, 1.5, an integer too large to have been parsed exactly).
   */
  readonly missingId: number;
  /** Same id as an earlier record of the same run; the first one is kept. */
  readonly duplicateId: number;
}

/**
 * Records a run received but could not key: it cannot tell which entities they are, so it cannot
 * tell which of the entities it did not see are gone. A duplicate id counts: the record that
 * carries it is some entity's, just not one the run can name (an API that repeats ids is usually
 * one whose ids or pagination shifted, and the entity it displaced looks absent).
 */
export function unkeyedCount(skipped: SkippedCounts): number {
  return skipped.notObject + skipped.missingId + skipped.duplicateId;
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
  return idText(readSteps(record, idField.split('.')));
}

/**
 * Ids are non-empty strings and integers. Not booleans (`true` would become the entity "true"),
 * not fractions (1.5 is a measurement, not an identity), and not integers beyond 2^53: JSON.parse
 * has already rounded them, so two entities may share one. A number id is its decimal text, so
 * 7 and "7" are the same entity.
 */
function idText(id: unknown): string | undefined {
  if (typeof id === 'string') return id === '' ? undefined : id;
  if (typeof id === 'number' && Number.isSafeInteger(id)) return String(id);
  return undefined;
}

/**
 * Keys records as they arrive, page by page: keeps objects with an id, each id once. A duplicate
 * keeps the first occurrence, in the poller and the batch job alike, so both sides of the pipeline
 * agree on which one wins. Every skipped record is counted.
 */
export class RecordKeyer {
  private readonly seen = new Set<string>();
  private readonly skippedAt: number[] = [];
  private received = 0;
  private notObject = 0;
  private missingId = 0;
  private duplicateId = 0;

  /** The id field's path, split once rather than for every record. */
  private readonly idSteps: readonly string[];

  constructor(idField: string) {
    this.idSteps = idField.split('.');
  }

  /** The record's id when it is kept; undefined when it is skipped (and counted). */
  key(value: unknown): string | undefined {
    const at = this.received++;
    if (value === null || typeof value !== 'object' || Array.isArray(value)) {
      this.notObject += 1;
      this.skip(at);
      return undefined;
    }
    const id = idText(readSteps(value, this.idSteps));
    if (id === undefined) {
      this.missingId += 1;
      this.skip(at);
      return undefined;
    }
    if (this.seen.has(id)) {
      this.duplicateId += 1;
      this.skip(at);
      return undefined;
    }
    this.seen.add(id);
    return id;
  }

  /** Whether a record with this id was kept. */
  has(id: string): boolean {
    return this.seen.has(id);
  }

  /** Records given to `key`, skipped ones included. */
  get count(): number {
    return this.received;
  }

  get skipped(): SkippedCounts {
    return { notObject: this.notObject, missingId: this.missingId, duplicateId: this.duplicateId };
  }

  /** Positions (0-based, across pages) of the first few skipped records, for the log line. */
  get firstSkippedAt(): readonly number[] {
    return this.skippedAt;
  }

  private skip(at: number): void {
    if (this.skippedAt.length < SKIPPED_POSITIONS_LOGGED) this.skippedAt.push(at);
  }
}

/** All of a run's records at once, keyed as `RecordKeyer` does (the batch job loads them whole). */
export function prepareRecords(raw: readonly unknown[], idField: string): PreparedRecords {
  const keyer = new RecordKeyer(idField);
  const records: JsonRecord[] = [];
  const ids: string[] = [];
  for (const value of raw) {
    const id = keyer.key(value);
    if (id === undefined) continue;
    records.push(value as JsonRecord);
    ids.push(id);
  }
  return { records, ids, skipped: keyer.skipped, firstSkippedAt: keyer.firstSkippedAt };
}
