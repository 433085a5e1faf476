import { randomUUID } from 'node:crypto';
import {
  baselineUpdates,
  pendingUpdateFor,
  snapshotUpdateFor,
  SnapshotDiffer,
  unkeyedCount,
  unkeyedRecordsError,
  type DetectedChange,
  type DiffCounts,
  type SkippedCounts,
} from '@changefeed/shared/change';
import { DEFAULTS, type SourceConfig } from '@changefeed/shared/config';
import { AppError, errorMessage } from '@changefeed/shared/errors';
import { changeMessageBuilder, eventId } from '@changefeed/shared/events';
import type { Logger } from '@changefeed/shared/log';
import { runAuditRow, writeRunAudit } from '@changefeed/shared/runs';
import {
  EventType,
  RunKind,
  type Clock,
  type RunStatus,
  type EventPublisher,
  type PublishOutcome,
  type RunLog,
  type SnapshotStore,
  type SnapshotUpdate,
  type SourceClient,
} from '@changefeed/shared/ports';
import { assertDeletionsPlausible } from './deletion-guard';
import { GroupSender } from './group-sender';
import type { SourceLease } from './source-lease';

export interface PollCycleDeps {
  readonly sourceClient: SourceClient;
  readonly snapshots: Pick<SnapshotStore, 'load' | 'recordPending' | 'commit'>;
  readonly publisher: EventPublisher;
  readonly runLog: RunLog;
  readonly clock: Clock;
  readonly logger: Logger;
  /**
   * Runs after a publish group was acknowledged and before its snapshot commit: the one moment
   * where a crash leaves events on the bus that the committed snapshot does not know about (only
   * the group's pending record does). Tests kill the process here to prove the next cycle
   * re-emits the same event ids, or supersedes them when the API has moved on or back.
   */
  readonly afterPublish?: () => Promise<void> | void;
}

export interface PollCycleOptions {
  /** Events handed to the publisher at once; the snapshot is committed after each group. */
  readonly publishBatchSize: number;
  /**
   * Stops the cycle: the fetch at once, and the publishing after the group in flight was
   * acknowledged and committed. No deletion is emitted from a partial state.
   */
  readonly signal?: AbortSignal;
  readonly newRunId?: () => string;
  /** See DEFAULTS.source.deletionGuardMinEntities. */
  readonly deletionGuardMinEntities?: number;
}

export interface PollCycleResult {
  readonly runId: string;
  readonly source: string;
  readonly status: RunStatus;
  /** True on a source's first committed poll. */
  readonly coldStart: boolean;
  readonly pages: number;
  readonly bytes: number;
  /** Records received, skipped ones included. */
  readonly records: number;
  readonly skipped: SkippedCounts;
  readonly counts: DiffCounts;
  /** Live entities absent from the poll that were not deleted, because some records could not be keyed. */
  readonly deletionsSuppressed: number;
  /** Events the bus acknowledged. */
  readonly published: number;
  /** Events the bus refused; their entities are re-detected next cycle. */
  readonly publishFailed: number;
  /** Changes left for the next cycle because the cycle was stopped or failed part-way. */
  readonly notAttempted: number;
  readonly durationMs: number;
  readonly error: string | null;
  /** The stable code of the error, when it had one (e.g. SNAPSHOT.LEASE_LOST, SOURCE.TIMEOUT). */
  readonly errorCode: string | null;
}

const NO_COUNTS: DiffCounts = { created: 0, updated: 0, deleted: 0, unchanged: 0 };
const NO_SKIPS: SkippedCounts = { notObject: 0, missingId: 0, duplicateId: 0 };

/**
 * One poll of one stream source: fetch the whole current state, key and hash it, diff it against
 * the snapshot, publish one CloudEvent per change, and commit the snapshot only for the entities
 * whose events the bus acknowledged. Creations and updates are published in groups as their pages
 * arrive; deletions once the last page is in, so a fetch that fails part-way leaves what it
 * published (true, and committed) and emits no deletion. A cycle that received records it could
 * not key emits no deletion either (see `SnapshotDiffer.finish`); it warns, counts them in the
 * audit row, and with `onUnkeyedRecords: fail` is recorded as failed. Never throws for a failed
 * cycle: the result (and the audit row) say so.
 *
 * Why a crash loses nothing: before a group is published, its events are recorded as *pending*
 * in the snapshot store (write-ahead intent, one write per group, fenced by the lease); the
 * group's commit clears them. A crash between publish and commit leaves events that may or may
 * not have reached the warehouse, and the next cycle sees them as pending (`reconcilePending`):
 * - the API still shows the pending state: the same event ids again; the warehouse drops copies;
 * - the API shows anything else, including the committed state it went back to: an event at a
 *   version above both the committed and the pending one, so `<table>_current` ends at the API's
 *   state whether the pending event landed or not. Without the pending record a revert would diff
 *   as "unchanged" against the snapshot and the warehouse would keep the uncommitted state.
 * A cycle stopped or refused before a group was recorded leaves the earlier pending entries as
 * they are, for the next cycle.
 */
export async function runPollCycle(
  deps: PollCycleDeps,
  source: SourceConfig,
  lease: SourceLease,
  options: PollCycleOptions,
): Promise<PollCycleResult> {
  const { clock } = deps;
  const logger = deps.logger.child({ source: source.name });
  const runId = (options.newRunId ?? randomUUID)();
  const startedAt = clock.now();
  const timings: StageTimings = { fetchMs: 0, diffMs: 0, pendingMs: 0, publishMs: 0, commitMs: 0 };

  let coldStart = false;
  let pages = 0;
  let bytes = 0;
  let records = 0;
  let skipped = NO_SKIPS;
  let counts = NO_COUNTS;
  let deletionsSuppressed = 0;
  let published = 0;
  let publishFailed = 0;
  let notAttempted = 0;
  let error: string | null = null;
  let errorCode: string | null = null;
  let firstPublishError: string | null = null;
  let firstPublishErrorCode: string | null = null;

  try {
    const snapshot = await deps.snapshots.load(source.name);
    coldStart = !snapshot.initialized;
    // A cold start that left pending events (an earlier `emit` cycle crashed in its first groups)
    // is finished as it began: a baseline would commit states the warehouse may not show.
    const baseline = coldStart && source.coldStart === 'baseline' && snapshot.pending.size === 0;
    const groups = new GroupSender<DetectedChange>(async (group, index) => {
      if (baseline) {
        const mark = Date.now();
        await lease.renew();
        await deps.snapshots.commit(lease.current, baselineUpdates(group));
        timings.commitMs += Date.now() - mark;
        return;
      }
      // The fetch may have outlived the lease; later groups ride on the renewal before each commit.
      let mark = Date.now();
      if (index === 0) await lease.renew();
      await deps.snapshots.recordPending(lease.current, group.map(pendingUpdateFor));
      timings.pendingMs += Date.now() - mark;
      mark = Date.now();
      const outcome = await publishGroup(deps, source, group, clock.now());
      timings.publishMs += Date.now() - mark;
      published += outcome.acked.length;
      publishFailed += outcome.failed;
      if (firstPublishError === null) {
        firstPublishError = outcome.firstError;
        firstPublishErrorCode = outcome.firstErrorCode;
      }
      await deps.afterPublish?.();
      mark = Date.now();
      await lease.renew();
      await deps.snapshots.commit(lease.current, outcome.acked.map(snapshotUpdateFor));
      timings.commitMs += Date.now() - mark;
    }, options.signal);

    // Each page is diffed as it arrives, and each full group of creations and updates is
    // published while the next pages are fetched: the cycle holds about two groups of changed
    // records, not every change of the cycle. Deletions wait for the last page.
    const differ = new SnapshotDiffer(snapshot.entries, snapshot.pending, source.idField);
    const pageIterator = deps.sourceClient.fetchPages({ signal: options.signal })[Symbol.asyncIterator]();
    try {
      for (;;) {
        const mark = Date.now();
        const next = await pageIterator.next();
        timings.fetchMs += Date.now() - mark;
        if (next.done === true) break;
        pages += 1;
        bytes += next.value.bytes;
        differ.addPage(next.value.records);
        for (const group of differ.takeGroups(options.publishBatchSize)) await groups.submit(group);
      }
    } catch (e: unknown) {
      // What was published is true and stays committed; the rest waits for the next cycle.
      // Closes the source's generator (its requests) when a group failed while it was suspended.
      await pageIterator.return?.(undefined)?.catch(() => undefined);
      await groups.settle();
      notAttempted = groups.notAttempted;
      throw e;
    }
    records = differ.records;
    skipped = differ.skipped;
    const diff = differ.finish();
    timings.diffMs = Math.round(differ.busyMs);
    counts = baseline ? { ...NO_COUNTS, unchanged: diff.counts.created } : diff.counts;
    deletionsSuppressed = diff.deletionsSuppressed;
    // Records the cycle could not key make it emit no deletion (see SnapshotDiffer.finish).
    const unkeyed = unkeyedCount(skipped);
    if (unkeyed > 0) {
      logger.warn('poll records skipped', {
        runId,
        idField: source.idField,
        unkeyed,
        ...skipped,
        firstSkippedAt: differ.firstSkippedAt,
        deletionsSuppressed,
      });
    }
    // A deletion guard that refuses the deletions still lets the rest of the cycle out: creations
    // and updates are true whatever the API lost.
    let refusal: Error | undefined;
    try {
      if (!baseline) {
        try {
          assertDeletionsPlausible(counts.deleted, snapshot.entries, {
            source: source.name,
            maxDeletedShare: source.maxDeletedShare,
            minEntities: options.deletionGuardMinEntities ?? DEFAULTS.source.deletionGuardMinEntities,
          });
        } catch (e: unknown) {
          refusal = e instanceof Error ? e : new Error(String(e));
        }
        // Entries committed again without an event: stale pending ones, and, once after an
        // upgrade, every entity of a snapshot hashed with the first format; in groups, like any
        // large commit. After the group in flight, so no two commits overlap.
        const silentUpdates = [...diff.resolved, ...diff.rehashed];
        if (silentUpdates.length > 0) {
          await groups.finish();
          const mark = Date.now();
          await commitInGroups(deps, lease, silentUpdates, options.publishBatchSize);
          timings.commitMs += Date.now() - mark;
        }
      }
      const rest = refusal === undefined ? diff.changes : diff.changes.filter((c) => c.type !== EventType.deleted);
      for (const group of chunk(rest, options.publishBatchSize)) await groups.submit(group);
      await groups.finish();
    } finally {
      await groups.settle();
      notAttempted = groups.notAttempted;
    }
    if (refusal !== undefined) throw refusal;
    if (unkeyed > 0 && source.onUnkeyedRecords === 'fail') {
      throw unkeyedRecordsError({
        source: source.name,
        idField: source.idField,
        skipped,
        firstSkippedAt: differ.firstSkippedAt,
        instead: `no deletion was published (${deletionsSuppressed} absent entities kept; this cycle's creations and updates were published)`,
      });
    }
    if (baseline) {
      logger.info('cold start: baseline recorded without events', { runId, entities: counts.unchanged });
    }
    if (notAttempted > 0) {
      error = `stopped before all changes were published; ${notAttempted} left for the next cycle`;
    } else if (groups.sent === 0 && coldStart) {
      // A cold start of an empty API, or a cycle with nothing new, still marks the source as seen.
      await lease.renew();
      await deps.snapshots.commit(lease.current, []);
    }
    if (error === null && publishFailed > 0) {
      error = `${publishFailed} event(s) not acknowledged by the bus (first: ${firstPublishError ?? 'unknown'}); they are re-detected next cycle`;
      errorCode = firstPublishErrorCode;
    }
  } catch (e: unknown) {
    error = errorMessage(e);
    errorCode = e instanceof AppError ? e.code : null;
  }

  const endedAt = clock.now();
  const durationMs = endedAt.getTime() - startedAt.getTime();
  const details: Record<string, number> = {
    pages,
    bytes,
    created: counts.created,
    updated: counts.updated,
    deleted: counts.deleted,
    unchanged: counts.unchanged,
    skippedNotObject: skipped.notObject,
    skippedMissingId: skipped.missingId,
    skippedDuplicateId: skipped.duplicateId,
    deletionsSuppressed,
    publishFailed,
    notAttempted,
    coldStart: coldStart ? 1 : 0,
    durationMs,
    ...timings,
  };
  const audit = runAuditRow({
    runId,
    source: source.name,
    kind: RunKind.poll,
    startedAt,
    endedAt,
    rowsRead: records,
    rowsWritten: published,
    error,
    details,
  });
  const { status } = audit;
  await writeRunAudit(deps.runLog, logger, audit);

  const fields = { runId, records, published, ...details };
  if (error === null) logger.info('poll cycle succeeded', fields);
  // A shutdown that cuts a cycle short is expected: what was not committed is redone next time.
  else if (options.signal?.aborted === true) logger.warn('poll cycle interrupted by shutdown', { ...fields, error });
  else logger.error('poll cycle failed', { ...fields, error });

  return {
    runId,
    source: source.name,
    status,
    coldStart,
    pages,
    bytes,
    records,
    skipped,
    counts,
    deletionsSuppressed,
    published,
    publishFailed,
    notAttempted,
    durationMs,
    error,
    errorCode,
  };
}

interface GroupOutcome {
  readonly acked: DetectedChange[];
  readonly failed: number;
  readonly firstError: string | null;
  readonly firstErrorCode: string | null;
}

type StageTimings = Record<'fetchMs' | 'diffMs' | 'pendingMs' | 'publishMs' | 'commitMs', number>;

async function publishGroup(
  deps: PollCycleDeps,
  source: SourceConfig,
  group: readonly DetectedChange[],
  time: Date,
): Promise<GroupOutcome> {
  const byId = new Map<string, DetectedChange>();
  // One builder per group: the source's attributes and the time are encoded once, not per event.
  const toMessage = changeMessageBuilder({ source: source.name, table: source.table, time });
  const tooLarge: PublishOutcome[] = [];
  const messages = group.flatMap((change) => {
    const id = eventId(source.name, change.entityId, change.version, change.type, change.hash);
    byId.set(id, change);
    const message = toMessage({
      id,
      type: change.type,
      entityId: change.entityId,
      version: change.version,
      record: change.record,
    });
    // Never published, so never committed: the change waits in the snapshot until it fits.
    if (message.data.length > source.maxRecordBytes) {
      tooLarge.push({ id, ok: false, error: recordTooLarge(source, change.entityId, message.data.length) });
      return [];
    }
    return [message];
  });
  const outcomes = [...tooLarge, ...(messages.length === 0 ? [] : await deps.publisher.publish(messages))];
  const acked: DetectedChange[] = [];
  let failed = 0;
  let firstError: string | null = null;
  let firstErrorCode: string | null = null;
  for (const outcome of outcomes) {
    const change = byId.get(outcome.id);
    if (change === undefined) continue;
    if (outcome.ok) acked.push(change);
    else {
      failed += 1;
      if (firstError === null) {
        firstError = outcome.error.message;
        firstErrorCode = outcome.error instanceof AppError ? outcome.error.code : null;
      }
    }
  }
  // A publisher that answers for fewer messages than it was given must not make the poller
  // believe the rest were published: they are simply not committed, and come back next cycle.
  failed += group.length - acked.length - failed;
  return { acked, failed, firstError, firstErrorCode };
}

function recordTooLarge(source: SourceConfig, entityId: string, bytes: number): AppError {
  return new AppError(
    'SOURCE.RECORD_TOO_LARGE',
    `source "${source.name}": the record of entity "${entityId}" is ${bytes} bytes as JSON, over sources[].maxRecordBytes (${source.maxRecordBytes}); its change is not published until it fits`,
    { retryable: false, details: { entityId, bytes, maxRecordBytes: source.maxRecordBytes } },
  );
}

async function commitInGroups(
  deps: PollCycleDeps,
  lease: SourceLease,
  updates: readonly SnapshotUpdate[],
  size: number,
): Promise<void> {
  const groups = chunk(updates, size);
  if (groups.length === 0) groups.push([]);
  for (const group of groups) {
    await lease.renew();
    await deps.snapshots.commit(lease.current, group);
  }
}

function chunk<T>(items: readonly T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}
