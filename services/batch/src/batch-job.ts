import type { SourceConfig } from '@changefeed/shared/config';
import { errorMessage } from '@changefeed/shared/errors';
import { RunKind, RunStatus, type SourceClient } from '@changefeed/shared/ports';
import { runAuditRow, writeRunAudit } from '@changefeed/shared/runs';
import {
  runBatchSource,
  BatchMode,
  BatchWrite,
  type BatchRunDeps,
  type BatchRunOptions,
  type BatchRunResult,
} from './run-batch';
import { randomUUID } from 'node:crypto';

export interface BatchJobDeps extends Omit<BatchRunDeps, 'sourceClient'> {
  /** The client for a source; may throw (e.g. a missing credential), which fails that source only. */
  readonly createSourceClient: (source: SourceConfig) => SourceClient;
}

export interface BatchJobResult {
  /** One per `mode: batch` source, in config order. */
  readonly results: readonly BatchRunResult[];
  /** True when any source failed: the job should exit non-zero. */
  readonly failed: boolean;
}

/**
 * Runs every `mode: batch` source once, one after the other (reference tables are small and the
 * APIs are often rate limited). A failing source is recorded and does not stop the others.
 */
export async function runBatchJob(
  deps: BatchJobDeps,
  sources: readonly SourceConfig[],
  options: BatchRunOptions = {},
): Promise<BatchJobResult> {
  const results: BatchRunResult[] = [];
  const logger = deps.logger;
  const batchSources = sources.filter((s) => s.mode === 'batch');
  logger.info('batch job started', { sources: batchSources.map((s) => s.name) });
  for (const source of batchSources) {
    if (options.signal?.aborted === true) {
      logger.warn('batch job stopped before all sources ran', { remaining: source.name });
      break;
    }
    let sourceClient: SourceClient;
    try {
      sourceClient = deps.createSourceClient(source);
    } catch (e: unknown) {
      results.push(await recordSetupFailure(deps, source, e, options));
      continue;
    }
    results.push(await runBatchSource({ ...deps, sourceClient }, source, options));
  }
  const failedSources = results.filter((r) => r.status === RunStatus.failed).map((r) => r.source);
  logger.info('batch job finished', {
    sources: results.length,
    failed: failedSources.length,
    failedSources,
    rowsWritten: results.reduce((sum, r) => sum + r.rowsWritten, 0),
  });
  return { results, failed: failedSources.length > 0 };
}

/** A source whose client could not even be built still gets its failed audit row. */
async function recordSetupFailure(
  deps: BatchJobDeps,
  source: SourceConfig,
  e: unknown,
  options: BatchRunOptions,
): Promise<BatchRunResult> {
  const runId = (options.newRunId ?? randomUUID)();
  const at = deps.clock.now();
  const error = errorMessage(e);
  const audit = runAuditRow({
    runId,
    source: source.name,
    kind: RunKind.batch,
    startedAt: at,
    endedAt: at,
    rowsRead: 0,
    rowsWritten: 0,
    error,
    details: {},
  });
  await writeRunAudit(deps.runLog, deps.logger, audit);
  deps.logger.error('batch run failed', { source: source.name, runId, error });
  return {
    runId,
    source: source.name,
    table: source.table,
    mode: source.incremental === undefined ? BatchMode.full : BatchMode.incremental,
    write: BatchWrite.none,
    status: audit.status,
    rowsRead: 0,
    rowsWritten: 0,
    skipped: { notObject: 0, missingId: 0, duplicateId: 0 },
    pages: 0,
    cursorBefore: undefined,
    cursorAfter: undefined,
    durationMs: 0,
    error,
  };
}
