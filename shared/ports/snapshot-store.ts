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

export interface SnapshotState {
  /** False until the first commit for this source: the next cycle is a cold start. */
  readonly initialized: boolean;
  readonly entries: ReadonlyMap<string, SnapshotEntry>;
}

/** Proof that one holder owns a source until `expiresAt`; commits are fenced by it. */
export interface Lease {
  readonly source: string;
  readonly holder: string;
  readonly expiresAt: Date;
}

export interface SnapshotStore {
  load(source: string): Promise<SnapshotState>;
  /**
   * Applies `updates` and marks the source initialized, atomically. Rejects with an error of code
   * `SNAPSHOT.LEASE_LOST` (and writes nothing) when `lease` is no longer held by its holder.
   * An empty `updates` still marks the source initialized (a baseline of an empty API).
   */
  commit(lease: Lease, updates: readonly SnapshotUpdate[]): Promise<void>;
  /** Takes the source's lease if it is free, expired, or already ours; null when another holder owns it. */
  acquireLease(source: string, holder: string, ttlMs: number): Promise<Lease | null>;
  /** Extends a held lease; null when it was lost (expired and taken by another holder). */
  renewLease(lease: Lease, ttlMs: number): Promise<Lease | null>;
  releaseLease(lease: Lease): Promise<void>;
  /** The incremental-batch watermark of a source, if any run stored one. */
  getCursor(source: string): Promise<string | undefined>;
  setCursor(source: string, cursor: string): Promise<void>;
  close(): Promise<void>;
}
