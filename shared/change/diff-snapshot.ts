import { EventType, type SnapshotEntry, type SnapshotUpdate } from '../ports';
import { hashRecord, sameContent } from './record-hash';

/** A record of the current poll, keyed and hashed. */
export interface CurrentRecord {
  readonly record: unknown;
  readonly hash: string;
}

/** One change the poll found: what to emit, and what the snapshot becomes once it is acked. */
export interface DetectedChange {
  readonly type: EventType;
  readonly entityId: string;
  /** The entity's change counter after this change: 1 when first created, +1 per change. */
  readonly version: number;
  /** The content hash of the new record; '' for a deletion. */
  readonly hash: string;
  /** The record as the API returned it; null for a deletion. */
  readonly record: unknown;
}

export interface DiffCounts {
  readonly created: number;
  readonly updated: number;
  readonly deleted: number;
  readonly unchanged: number;
}

export interface SnapshotDiff {
  /** Creations and updates in the API's order, then deletions in snapshot order. */
  readonly changes: DetectedChange[];
  readonly counts: DiffCounts;
  /**
   * Unchanged entities whose snapshot entry holds a hash of the first format (see `sameContent`):
   * their entry with the current hash, to commit without an event, so the old format is read once.
   */
  readonly rehashed: SnapshotUpdate[];
}

/** The records of a poll keyed by id and hashed: what `diffSnapshot` compares with the snapshot. */
export function currentRecords(records: readonly unknown[], ids: readonly string[]): Map<string, CurrentRecord> {
  const current = new Map<string, CurrentRecord>();
  for (let i = 0; i < records.length; i++) {
    const record = records[i];
    current.set(ids[i] as string, { record, hash: hashRecord(record) });
  }
  return current;
}

/**
 * Compares the current records with the stored snapshot index. A deleted entity stays in the
 * snapshot as a tombstone, so its re-creation continues the version sequence: the re-created
 * entity's events get new ids instead of colliding with the first life's.
 */
export function diffSnapshot(
  current: ReadonlyMap<string, CurrentRecord>,
  snapshot: ReadonlyMap<string, SnapshotEntry>,
): SnapshotDiff {
  const changes: DetectedChange[] = [];
  const rehashed: SnapshotUpdate[] = [];
  let created = 0;
  let updated = 0;
  let deleted = 0;
  let unchanged = 0;
  for (const [entityId, { record, hash }] of current) {
    const previous = snapshot.get(entityId);
    if (previous === undefined || previous.deleted) {
      created += 1;
      changes.push({ type: EventType.created, entityId, version: (previous?.version ?? 0) + 1, hash, record });
    } else if (previous.hash === hash) {
      unchanged += 1;
    } else if (sameContent({ record, hash }, previous.hash)) {
      unchanged += 1;
      rehashed.push({ entityId, hash, version: previous.version, deleted: false });
    } else {
      updated += 1;
      changes.push({ type: EventType.updated, entityId, version: previous.version + 1, hash, record });
    }
  }
  for (const [entityId, previous] of snapshot) {
    if (previous.deleted || current.has(entityId)) continue;
    deleted += 1;
    changes.push({ type: EventType.deleted, entityId, version: previous.version + 1, hash: '', record: null });
  }
  return { changes, counts: { created, updated, deleted, unchanged }, rehashed };
}

/**
 * A `coldStart: baseline` source's first poll: every entity is remembered as version 1 without
 * an event, so only what changes from now on reaches the warehouse.
 */
export function baselineUpdates(current: ReadonlyMap<string, CurrentRecord>): SnapshotUpdate[] {
  const updates: SnapshotUpdate[] = [];
  for (const [entityId, { hash }] of current) updates.push({ entityId, hash, version: 1, deleted: false });
  return updates;
}

/** What the snapshot holds for an entity once its change was acknowledged. */
export function snapshotUpdateFor(change: DetectedChange): SnapshotUpdate {
  return {
    entityId: change.entityId,
    hash: change.hash,
    version: change.version,
    deleted: change.type === EventType.deleted,
  };
}
