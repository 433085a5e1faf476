import type { BatchRunResult } from '@changefeed/batch';
import type { PollCycleResult } from '@changefeed/poller';

/** One line of a `run --once` summary per poll cycle: counts, outcome and duration. */
export function cycleLine(c: PollCycleResult): string {
  const skipped = c.skipped.notObject + c.skipped.missingId + c.skipped.duplicateId;
  return (
    `${c.source} (stream${c.coldStart ? ', cold start' : ''}): ${c.records} records, ${c.counts.created} created, ` +
    `${c.counts.updated} updated, ${c.counts.deleted} deleted, ${skipped} skipped, ` +
    // Skipped records make a cycle keep every entity it did not see (SnapshotDiffer.finish).
    (c.deletionsSuppressed > 0 ? `${c.deletionsSuppressed} not deleted (unkeyed records), ` : '') +
    `${c.published} published — ` +
    `${c.status} in ${(c.durationMs / 1000).toFixed(1)} s${c.error === null ? '' : `: ${c.error}`}`
  );
}

/** One line of a `run --once` summary per batch run. */
export function batchLine(b: BatchRunResult): string {
  return (
    `${b.source} (batch, ${b.mode}${b.mode === 'full' && b.write === 'merge' ? ', merged: unkeyed records' : ''}): ` +
    `${b.rowsRead} read, ${b.rowsWritten} written — ${b.status} in ` +
    `${(b.durationMs / 1000).toFixed(1)} s${b.error === null ? '' : `: ${b.error}`}`
  );
}
