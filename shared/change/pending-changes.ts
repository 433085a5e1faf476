import { EventType, type PendingEntry, type PendingUpdate, type SnapshotEntry, type SnapshotUpdate } from '../ports';
import type { CurrentRecord, DetectedChange, DiffCounts, FinishOptions, SnapshotDiff } from './diff-snapshot';
import { sameContent } from './record-hash';

export interface ReconciledDiff extends SnapshotDiff {
  /**
   * Committed entries to commit again, unchanged, because a pending entry of theirs is stale (the
   * committed version already reaches it): committing them clears it. No event.
   */
  readonly resolved: SnapshotUpdate[];
}

/**
 * Corrects a diff for the events of an earlier cycle that were published (or about to be) but
 * never committed: `pending` (see `SnapshotStore.recordPending`). The snapshot alone cannot tell
 * what the warehouse shows for such an entity: its committed state s, or the pending state p.
 *
 * - The API still shows p: the same event again (same version, type and hash, so the same event
 *   id), which the warehouse drops if p had landed. This is what the plain diff did already.
 * - Anything else, s included: an event at version max(s, p) + 1, so it supersedes p in
 *   `<table>_current` whether p landed or not. A revert to s still gets its event (`updated` when s
 *   and p are both alive, `created` when it reappears after a pending deletion or never lived in
 *   s, `deleted` when a pending creation or update is gone); without it the warehouse would keep p.
 * - A stale pending entry (s.version >= p.version) changes nothing; s is committed again to clear it.
 * - With `deletions: false` (the poll could not key every record), an entity absent from the poll
 *   may be one of the unkeyed records: it gets no event, and its pending entry stays for the next
 *   cycle to reconcile.
 *
 * Costs nothing without pending entries; with them, one pass over the changes (not over every
 * entity), since pending is about one publish group. Kept apart from `diffSnapshot` so that
 * function stays the plain diff.
 */
export function reconcilePending(
  diff: SnapshotDiff,
  current: ReadonlyMap<string, CurrentRecord>,
  snapshot: ReadonlyMap<string, SnapshotEntry>,
  pending: ReadonlyMap<string, PendingEntry>,
  options: FinishOptions = { deletions: true },
): ReconciledDiff {
  const resolved: SnapshotUpdate[] = [];
  const overrides = new Map<string, DetectedChange>();
  for (const [entityId, p] of pending) {
    const s = snapshot.get(entityId);
    const c = current.get(entityId);
    if (s !== undefined && s.version >= p.version) resolved.push({ entityId, ...s });
    else if (c !== undefined || options.deletions) overrides.set(entityId, changeOverPending(entityId, s, p, c));
  }
  if (overrides.size === 0) return { ...diff, resolved };
  // An entity that gets an event here is committed with that event, not re-hashed silently before it.
  const rehashed = diff.rehashed.filter((update) => !overrides.has(update.entityId));

  const counts: { -readonly [K in keyof DiffCounts]: number } = { ...diff.counts };
  const changes = diff.changes.map((change) => {
    const override = overrides.get(change.entityId);
    if (override === undefined) return change;
    overrides.delete(change.entityId);
    counts[change.type] -= 1;
    counts[override.type] += 1;
    return override;
  });
  // What is left had no change in the plain diff: a record equal to s, or an id absent from both.
  for (const [entityId, override] of overrides) {
    if (current.has(entityId)) counts.unchanged -= 1;
    counts[override.type] += 1;
    changes.push(override);
  }
  return { changes, counts, resolved, rehashed, deletionsSuppressed: diff.deletionsSuppressed };
}

function changeOverPending(
  entityId: string,
  s: SnapshotEntry | undefined,
  p: PendingEntry,
  c: CurrentRecord | undefined,
): DetectedChange {
  // A pending hash of the first format is kept as it was, so the repeated event keeps its id.
  const showsP = p.type === EventType.deleted ? c === undefined : c !== undefined && sameContent(c, p.hash);
  if (showsP) return { type: p.type, entityId, version: p.version, hash: p.hash, record: c?.record ?? null };
  const version = Math.max(s?.version ?? 0, p.version) + 1;
  if (c === undefined) return { type: EventType.deleted, entityId, version, hash: '', record: null };
  const aliveInBoth = s !== undefined && !s.deleted && p.type !== EventType.deleted;
  return {
    type: aliveInBoth ? EventType.updated : EventType.created,
    entityId,
    version,
    hash: c.hash,
    record: c.record,
  };
}

/** The pending entry a change leaves between its publish and its commit. */
export function pendingUpdateFor(change: DetectedChange): PendingUpdate {
  return { entityId: change.entityId, type: change.type, hash: change.hash, version: change.version };
}
