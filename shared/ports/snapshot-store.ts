import type { CursorStore } from './cursor-store';
import type { EventType } from './row-sink';

/**
 * What the poller remembers of a source between cycles: for every entity id, the hash of the
 * record it last published and the entity's change counter. Deleted entities stay as tombstones
 * so that a re-created id continues its version sequence (and so gets new event ids).
 */
export interface SnapshotEntry {
  readonly hash: string;
  readonly version: number;
  readonly deleted: boolean;
}

export interface SnapshotUpdate extends SnapshotEntry {
  readonly entityId: string;
}

/**
 * An event the poller handed (or was about to hand) to the bus while its snapshot entry was not
 * committed: it may have reached the warehouse or not. The type is kept because it is part of the
 * event id and cannot always be told from the entry (a revert restoring a live entity after a
 * pending deletion is `created`); `deleted` entries have the hash ''.
 */
export interface PendingEntry {
  readonly type: EventType;
  readonly hash: string;
  readonly version: number;
}

export interface PendingUpdate extends PendingEntry {
  readonly entityId: string;
}

export interface SnapshotState {
  /** False until the first commit for this source: the next cycle is a cold start. */
  readonly initialized: boolean;
  readonly entries: ReadonlyMap<string, SnapshotEntry>;
  /**
   * Every entity with a pending entry (see `recordPending`) that no commit has covered yet, with
   * its highest-version one. Such an entry may be stale (an entry of the same entity with at
   * least its version was committed without clearing it); the poller resolves those by
   * committing the entry again.
   */
  readonly pending: ReadonlyMap<string, PendingEntry>;
}

/** Proof that one holder owns a source until `expiresAt`; commits are fenced by it. */
export interface Lease {
  readonly source: string;
  readonly holder: string;
  readonly expiresAt: Date;
}

/**
 * The poller's memory of its sources: entries, pending groups, leases, and (as a `CursorStore`)
 * the batch jobs' incremental watermarks.
 */
export interface SnapshotStore extends CursorStore {
  load(source: string): Promise<SnapshotState>;
  /**
   * Write-ahead intent: records, before a publish group goes to the bus, the events it carries,
   * so that a crash between publish and commit leaves a trace of what may have reached the
   * warehouse. One write (a row, a document) per call, not one per entity. Fenced like `commit`:
   * rejects with `SNAPSHOT.LEASE_LOST` and records nothing when the lease is lost. An entity's new
   * entry supersedes its older pending entries of no higher version; the last entry of an entity
   * in `pending` wins.
   */
  recordPending(lease: Lease, pending: readonly PendingUpdate[]): Promise<void>;
  /**
   * Applies `updates` and marks the source initialized, atomically. Rejects with an error of code
   * `SNAPSHOT.LEASE_LOST` (and writes nothing) when `lease` is no longer held by its holder.
   * An empty `updates` still marks the source initialized (a baseline of an empty API).
   * Clears, with the updates, every pending entry an update covers: same entity, version at least
   * the pending one's. Pending entries of entities not in `updates` (or only with a lower version)
   * stay, so a partly acknowledged group keeps the trace of what it may have published.
   */
  commit(lease: Lease, updates: readonly SnapshotUpdate[]): Promise<void>;
  /** Takes the source's lease if it is free, expired, or already ours; null when another holder owns it. */
  acquireLease(source: string, holder: string, ttlMs: number): Promise<Lease | null>;
  /** Extends a held lease; null when it was lost (expired and taken by another holder). */
  renewLease(lease: Lease, ttlMs: number): Promise<Lease | null>;
  releaseLease(lease: Lease): Promise<void>;
  close(): Promise<void>;
}
