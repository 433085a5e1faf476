import { randomUUID } from 'node:crypto';
import type { SourceConfig } from '@changefeed/shared/config';
import { errorMessage } from '@changefeed/shared/errors';
import type { Logger } from '@changefeed/shared/log';
import {
  RunKind,
  type Clock,
  type CursorStore,
  type ReferenceLoader,
  type RunLog,
  type RunStatus,
  type SourceClient,
} from '@changefeed/shared/ports';
import { runAuditRow, writeRunAudit } from '@changefeed/shared/runs';
import { prepareRecords, unkeyedCount, unkeyedRecordsError, type SkippedCounts } from '@changefeed/shared/change';
import { nextWatermark } from './watermark';

/** What one batch run needs. */
export interface BatchRunDeps {
  readonly sourceClient: SourceClient;
  readonly loader: ReferenceLoader;
  readonly runLog: RunLog;
  /** The incremental watermarks: the poller's snapshot store serves, as every `SnapshotStore` is a `CursorStore`. */
  readonly state: CursorStore;
  readonly clock: Clock;
  readonly logger: Logger;
}

export interface BatchRunOptions {
  /** Aborts the fetch (SIGTERM); the run then fails without writing anything. */
  readonly signal?: AbortSignal;
  /** Run ids for the audit row; random UUIDs unless a test pins them. */
  readonly newRunId?: () => string;
}

export const BatchMode = { full: 'full', incremental: 'incremental' } as const;
export type BatchMode = (typeof BatchMode)[keyof typeof BatchMode];

/** How a run wrote its records: a full refresh that could not key every record merges instead of replacing. */
export const BatchWrite = { replace: 'replace', merge: 'merge', none: 'none' } as const;
export type BatchWrite = (typeof BatchWrite)[keyof typeof BatchWrite];

export interface BatchRunResult {
  readonly runId: string;
  readonly source: string;
  readonly table: string;
  readonly mode: BatchMode;
  /** `merge` for a full refresh that could not key every record; `none` when nothing was written. */
  readonly write: BatchWrite;
  readonly status: RunStatus;
  /** Records received from the API, skipped ones included. */
  readonly rowsRead: number;
  /** Rows the loader reports written (0 on failure). */
  readonly rowsWritten: number;
  readonly skipped: SkippedCounts;
  readonly pages: number;
  /** The watermark sent to the API (incremental only). */
  readonly cursorBefore: string | undefined;
  /** The watermark stored after the run (incremental only; unchanged on failure). */
  readonly cursorAfter: string | undefined;
  readonly durationMs: number;
  /** What went wrong, null on success. */
  readonly error: string | null;
}

/**
 * One run of a `mode: batch` source. Full: every page, then the table replaced atomically.
 * Incremental: only what changed since the stored watermark (sent as `incremental.cursorParam`),
 * merged by `idField`; the new watermark is stored only once the merge succeeded, so a failed
 * run is fetched again next time rather than lost. Every run, failed or not, writes an audit row.
 * Never throws for a failed run: the result says so.
 *
 * Records without a string or integer id, with a duplicate id, or not objects are never loaded
 * (a merge could not place them). A full refresh that received any cannot tell which rows are
 * gone (an unkeyed record may be one of them), so it merges the records it could key by
 * `idField` instead of replacing the table: the poller's rule of no deletions from such a cycle,
 * for a reference table. With `onUnkeyedRecords: fail` such a run writes nothing and fails.
 */
export async function runBatchSource(
  deps: BatchRunDeps,
  source: SourceConfig,
  options: BatchRunOptions = {},
): Promise<BatchRunResult> {
  const { clock } = deps;
  const logger = deps.logger.child({ source: source.name });
  const runId = (options.newRunId ?? randomUUID)();
  const startedAt = clock.now();
  const incremental = source.incremental;
  const mode = incremental === undefined ? BatchMode.full : BatchMode.incremental;

  let rowsRead = 0;
  let rowsWritten = 0;
  let pages = 0;
  let bytes = 0;
  let missingCursor = 0;
  let skipped: SkippedCounts = { notObject: 0, missingId: 0, duplicateId: 0 };
  let write: BatchWrite = BatchWrite.none;
  let cursorBefore: string | undefined;
  let cursorAfter: string | undefined;
  let error: string | null = null;

  try {
    cursorBefore = incremental === undefined ? undefined : await deps.state.getCursor(source.name);
    cursorAfter = cursorBefore;
    const query =
      incremental !== undefined && cursorBefore !== undefined ? { [incremental.cursorParam]: cursorBefore } : undefined;

    const raw: unknown[] = [];
    for await (const page of deps.sourceClient.fetchPages({ signal: options.signal, query })) {
      pages += 1;
      bytes += page.bytes;
      for (const record of page.records) raw.push(record);
    }
    rowsRead = raw.length;

    const prepared = prepareRecords(raw, source.idField);
    skipped = prepared.skipped;
    const unkeyed = unkeyedCount(skipped);
    const fail = unkeyed > 0 && source.onUnkeyedRecords === 'fail';
    const merge = incremental !== undefined || unkeyed > 0;
    if (unkeyed > 0) {
      logger.warn('batch records skipped', {
        runId,
        idField: source.idField,
        unkeyed,
        ...skipped,
        firstSkippedAt: prepared.firstSkippedAt,
        write: fail ? BatchWrite.none : merge ? BatchWrite.merge : BatchWrite.replace,
      });
    }
    if (fail) {
      throw unkeyedRecordsError({
        source: source.name,
        idField: source.idField,
        skipped,
        firstSkippedAt: prepared.firstSkippedAt,
        instead: `nothing was written to "${source.table}"`,
      });
    }

    if (incremental === undefined) {
      write = merge ? BatchWrite.merge : BatchWrite.replace;
      rowsWritten = merge
        ? await deps.loader.mergeRecords(source.table, prepared.records, source.idField)
        : await deps.loader.replaceTable(source.table, prepared.records);
    } else {
      write = BatchWrite.merge;
      rowsWritten = await deps.loader.mergeRecords(source.table, prepared.records, source.idField);
      const watermark = nextWatermark(prepared.records, incremental.cursorField, cursorBefore);
      missingCursor = watermark.missing;
      if (watermark.cursor !== undefined && watermark.cursor !== cursorBefore) {
        await deps.state.setCursor(source.name, watermark.cursor);
        cursorAfter = watermark.cursor;
      }
    }
  } catch (e: unknown) {
    error = errorMessage(e);
    rowsWritten = 0;
    write = BatchWrite.none;
  }

  const endedAt = clock.now();
  const durationMs = endedAt.getTime() - startedAt.getTime();
  const details: Record<string, number> = {
    pages,
    bytes,
    skippedNotObject: skipped.notObject,
    skippedMissingId: skipped.missingId,
    skippedDuplicateId: skipped.duplicateId,
    // 1 when a full refresh merged instead of replacing, because some records could not be keyed.
    ...(incremental === undefined ? { mergedInsteadOfReplaced: write === BatchWrite.merge ? 1 : 0 } : {}),
    durationMs,
    ...(incremental === undefined ? {} : { missingCursor }),
  };

  const audit = runAuditRow({
    runId,
    source: source.name,
    kind: RunKind.batch,
    startedAt,
    endedAt,
    rowsRead,
    rowsWritten,
    error,
    details,
  });
  const { status } = audit;
  await writeRunAudit(deps.runLog, logger, audit);

  const fields = {
    runId,
    table: source.table,
    mode,
    write,
    rowsRead,
    rowsWritten,
    pages,
    bytes,
    durationMs,
    ...details,
  };
  if (error === null) logger.info('batch run succeeded', { ...fields, cursorBefore, cursorAfter });
  else logger.error('batch run failed', { ...fields, error, cursorBefore });

  return {
    runId,
    source: source.name,
    table: source.table,
    mode,
    write,
    status,
    rowsRead,
    rowsWritten,
    skipped,
    pages,
    cursorBefore,
    cursorAfter,
    durationMs,
    error,
  };
}
