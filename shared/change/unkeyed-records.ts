import { AppError } from '../errors';
import { unkeyedCount, type SkippedCounts } from './prepare-records';

/** What a run did about the records it could not key, for the log line and the error. */
export interface UnkeyedRecords {
  readonly source: string;
  readonly idField: string;
  readonly skipped: SkippedCounts;
  readonly firstSkippedAt: readonly number[];
  /** What the run did instead of deleting, e.g. "no deletion was published". */
  readonly instead: string;
}

/**
 * The error of a run with `onUnkeyedRecords: fail` that received records it could not key. Not
 * retryable: the API sends the same records next time until its data or `idField` is fixed.
 */
export function unkeyedRecordsError(run: UnkeyedRecords): AppError {
  const { notObject, missingId, duplicateId } = run.skipped;
  return new AppError(
    'SOURCE.UNKEYED_RECORDS',
    `source "${run.source}": ${unkeyedCount(run.skipped)} record(s) could not be keyed by "${run.idField}" ` +
      `(${missingId} without a string or integer id, ${duplicateId} with a duplicate id, ${notObject} not an object; ` +
      `first at positions ${run.firstSkippedAt.join(', ')}); ${run.instead}, and sources[].onUnkeyedRecords is fail`,
    { retryable: false },
  );
}
