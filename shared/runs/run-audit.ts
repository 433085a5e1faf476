import type { Logger } from '../log';
import { RunStatus, type RunLog, type RunRecord } from '../ports';

/** A poll cycle or batch run once it is over, as its use case counted it; the status follows from `error`. */
export type FinishedRun = Omit<RunRecord, 'status'>;

/**
 * The `_runs` row of a finished run. A run failed exactly when it has an error, whatever its
 * counts say: poll cycles and batch runs decide their status by the same rule.
 */
export function runAuditRow(run: FinishedRun): RunRecord {
  return {
    runId: run.runId,
    source: run.source,
    kind: run.kind,
    startedAt: run.startedAt,
    endedAt: run.endedAt,
    rowsRead: run.rowsRead,
    rowsWritten: run.rowsWritten,
    status: run.error === null ? RunStatus.succeeded : RunStatus.failed,
    error: run.error,
    details: run.details,
  };
}

/**
 * Writes `row` to the run log and never throws. By the time a run is audited its work is done
 * (events on the bus and the snapshot committed, or a table loaded) or has already failed: a lost
 * audit row is worth a loud log line (`<kind> audit row not written`), not a failed run that would
 * make operators look for lost data, nor an undone load.
 */
export async function writeRunAudit(runLog: RunLog, logger: Logger, row: RunRecord): Promise<void> {
  try {
    await runLog.recordRun(row);
  } catch (e: unknown) {
    logger.error(`${row.kind} audit row not written`, { source: row.source, runId: row.runId, error: e });
  }
}
