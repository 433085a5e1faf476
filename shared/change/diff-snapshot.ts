import { EventType, type SnapshotEntry, type SnapshotUpdate } from '../ports';
import { sameContent } from './record-hash';

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
  /**
   * Live entities the poll did not see and did not delete, because it could not key every record
   * (see `DiffBuilder.finish`); 0 otherwise.
   */
  readonly deletionsSuppressed: number;
}

/** Whether a poll's absent entities are deleted (see `DiffBuilder.finish`). */
export interface FinishOptions {
  /**
   * False when the poll received records it could not key (no id, a duplicate id, not an
   * object): any absent entity may be one of them, so none is known to be gone.
   */
  readonly deletions: boolean;
}

/**
 * Builds a diff one current record at a time, so a poll can be compared with the snapshot as its
 * pages arrive and keep only the records that changed. A deleted entity stays in the snapshot as
 * a tombstone, so its re-creation continues the version sequence: the re-created entity's events
 * get new ids instead of colliding with the first life's.
 */
export class DiffBuilder {
  private changes: DetectedChange[] = [];
  private readonly rehashed: SnapshotUpdate[] = [];
  private created = 0;
  private updated = 0;
  private unchanged = 0;

  constructor(private readonly snapshot: ReadonlyMap<string, SnapshotEntry>) {}

  /** One current record (each id once). */
  add(entityId: string, record: unknown, hash: string): void {
    const previous = this.snapshot.get(entityId);
    if (previous === undefined || previous.deleted) {
      this.created += 1;
      this.changes.push({ type: EventType.created, entityId, version: (previous?.version ?? 0) + 1, hash, record });
    } else if (previous.hash === hash) {
      this.unchanged += 1;
    } else if (sameContent({ record, hash }, previous.hash)) {
      this.unchanged += 1;
      this.rehashed.push({ entityId, hash, version: previous.version, deleted: false });
    } else {
      this.updated += 1;
      this.changes.push({ type: EventType.updated, entityId, version: previous.version + 1, hash, record });
    }
  }

  /**
   * The creations and updates added since the last call, handed over so a caller can publish them
   * before the poll ends; `finish` then holds only what was added after.
   */
  takeChanges(): DetectedChange[] {
    const taken = this.changes;
    this.changes = [];
    return taken;
  }

  /**
   * Creations and updates as added (and not taken), then a deletion for every live snapshot
   * entity not current; with `deletions: false`, those entities are only counted
   * (`deletionsSuppressed`) and keep their snapshot entry, so they are neither deleted nor
   * re-created when the API keys them again.
   */
  finish(isCurrent: (entityId: string) => boolean, options: FinishOptions = { deletions: true }): SnapshotDiff {
    let deleted = 0;
    let deletionsSuppressed = 0;
    for (const [entityId, previous] of this.snapshot) {
      if (previous.deleted || isCurrent(entityId)) continue;
      if (!options.deletions) {
        deletionsSuppressed += 1;
        continue;
      }
      deleted += 1;
      this.changes.push({ type: EventType.deleted, entityId, version: previous.version + 1, hash: '', record: null });
    }
    return {
      changes: this.changes,
      counts: { created: this.created, updated: this.updated, deleted, unchanged: this.unchanged },
      rehashed: this.rehashed,
      deletionsSuppressed,
    };
  }
}

/** Compares the current records, all at hand, with the stored snapshot index (see `DiffBuilder`). */
export function diffSnapshot(
  current: ReadonlyMap<string, CurrentRecord>,
  snapshot: ReadonlyMap<string, SnapshotEntry>,
): SnapshotDiff {
  const builder = new DiffBuilder(snapshot);
  for (const [entityId, { record, hash }] of current) builder.add(entityId, record, hash);
  return builder.finish((entityId) => current.has(entityId));
}

/**
 * A `coldStart: baseline` source's first poll: every entity is remembered as version 1 without
 * an event, so only what changes from now on reaches the warehouse. Takes the diff of that poll
 * against the empty snapshot, where every current entity is a creation.
 */
export function baselineUpdates(changes: readonly DetectedChange[]): SnapshotUpdate[] {
  const updates: SnapshotUpdate[] = [];
  for (const { type, entityId, hash } of changes) {
    if (type === EventType.created) updates.push({ entityId, hash, version: 1, deleted: false });
  }
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
