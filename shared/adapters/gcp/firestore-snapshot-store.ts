import type { CollectionReference, Firestore } from '@google-cloud/firestore';
import { DEFAULTS } from '../../config/defaults';
import { errorMessage } from '../../errors';
import {
  systemClock,
  type Clock,
  type Lease,
  type PendingUpdate,
  type SnapshotState,
  type SnapshotStore,
  type SnapshotUpdate,
} from '../../ports';
import { positiveTtl } from '../lease-rules';
import { commitUpdates } from './firestore-bucket-commit';
import { recordPendingGroup } from './firestore-pending-writes';
import { readCursor, writeCursor } from './firestore-snapshot-cursors';
import { firestoreSnapshotError, invalidStoreOption, snapshotStoreClosed } from './firestore-snapshot-errors';
import { sourceLayout, type FencedWrite, type SourceLayout } from './firestore-snapshot-layout';
import { acquireLeaseIn, releaseLeaseIn, renewLeaseIn } from './firestore-snapshot-leases';
import { readSnapshot } from './firestore-snapshot-read';
import {
  runCountedTransaction,
  type CountingTransaction,
  type FirestoreSnapshotStoreStats,
  type StoreCounters,
} from './firestore-snapshot-transactions';

export { UNINDEXED_SNAPSHOT_FIELDS } from './firestore-snapshot-layout';
export type { FirestoreSnapshotStoreStats } from './firestore-snapshot-transactions';

export interface FirestoreSnapshotStoreOptions {
  /** Root collection of the snapshot index, leases and cursors (`gcp.firestore.collection`). */
  readonly collection: string;
  /** Decides when leases expire; injected so tests can move time. */
  readonly clock?: Clock;
  /** A bucket is cut in two before it would hold more entries than this. */
  readonly entitiesPerBucket?: number;
  /** ...or before its document would weigh more than this (Firestore's own size accounting). */
  readonly maxBucketBytes?: number;
}

/** The most `maxBucketBytes` may be: 1 MiB less room for the estimate's error. */
const MAX_BUCKET_BYTES_CEILING = 1024 * 1024 - 64 * 1024;

/**
 * The poller's snapshot in Firestore, as a **bucketed index**: entries are not one document per
 * entity but packed into bucket documents, so a poll of N entities reads about N/2,000 documents.
 *
 * Layout under `<collection>/<source>` (the meta document):
 * - the meta document: `initialized`, `schema`, and `buckets: { <bucket id>: [entries, bytes] }`, an
 *   upper bound of each bucket's load;
 * - `snapshotBuckets/<bucket id>`: `e: { <entity id>: [hash, version, deleted] }` (plus `l` for ids no
 *   map key can hold; see `EntryField`);
 * - `sourceState/lease` (`holder`, `expiresAtMs`) and `sourceState/cursor` (`cursor`);
 * - `pendingGroups/<group>-<part>`: the entries of a publish group recorded before it was published
 *   and not yet committed (see `firestore-pending-docs.ts`); usually none or one document.
 * Sources whose name is not a plain document id are stored under `~<sha256 of the name>`.
 *
 * **Buckets adapt by splitting, one bucket at a time** (extendible hashing without a directory
 * array). An entity belongs to the bucket whose id spells a prefix of the first 64 bits of MD5(id);
 * the buckets are the leaves of that binary trie, starting with the single root `b`. A commit adds
 * its updates to the buckets' estimated loads (counting every update as a new entry, so the
 * estimate never falls below the truth) and, when a bucket would pass `entitiesPerBucket` or
 * `maxBucketBytes`, first reads that bucket and either settles the estimate (it was overwrites) or
 * cuts it into `b…0` and `b…1` by the next bit — in its own transaction, fenced by the lease like
 * every write, moving entries without changing any. Cutting only the full bucket keeps each split
 * to one bucket's bytes (a global doubling of B would rewrite the whole index at once: ~70 MB at
 * 1M entities, far over a transaction's 10 MiB). Uniform hashing keeps buckets between half full
 * and full: at 20,000 entities 16 buckets of ~1,250 (a poll reads 17 documents); at 1,000,000 about
 * 585 buckets of ~1,700 (586 reads), each ≤ 140 KB with UUID ids and ≤ 470 KB with 200-character
 * ids. The meta document grows by ~30 bytes per bucket (~18 KB at 1M entities), which bounds a
 * source to a few tens of millions of entities.
 *
 * **Commits** run in a transaction that reads the lease and the meta document, refuses with
 * `SNAPSHOT.LEASE_LOST` unless the lease is still held (by the injected clock), and patches only the
 * touched map keys of each touched bucket (`set` with `merge`) plus the meta document. An update group
 * that fits in one transaction (`TRANSACTION_BUDGET_BYTES`; the poller's 1,000 always do unless ids
 * are over ~1 KB) lands whole or not at all. A larger group lands in consecutive transactions, each
 * fenced by the lease: if the lease is lost midway, the groups already written stay — safe, since the
 * poller only commits entries whose events were acknowledged, but not the contract's "nothing".
 *
 * **Pending groups** (`recordPending`) are written in one transaction with the lease check: one
 * document per group, or several when the group's entries weigh more than `maxBucketBytes` (1,000
 * entries with ids of ~500 characters or more), and several transactions when they weigh more than
 * one transaction may carry. That split is safe because all of it is written before the group is
 * published. Every commit round reads the pending documents (a query, usually of one document) and
 * deletes, or rewrites, what its updates make obsolete, in the same transaction as the updates.
 *
 * **Where each job lives**: document paths in `firestore-snapshot-layout.ts`, the meta document in
 * `firestore-snapshot-meta.ts`, bucket encoding and cutting (pure) in `firestore-snapshot-buckets.ts`,
 * loading in `firestore-snapshot-read.ts`, commit rounds and bucket cuts in `firestore-bucket-commit.ts`,
 * pending documents in `firestore-pending-docs.ts` (pure) and `firestore-pending-writes.ts`, leases in
 * `firestore-snapshot-leases.ts`, cursors in `firestore-snapshot-cursors.ts`, counted transactions
 * and their size budget in `firestore-snapshot-transactions.ts`, errors in
 * `firestore-snapshot-errors.ts`. This class checks its options, guards every call and composes them.
 *
 * `close()` does not terminate the Firestore client: whoever built it owns it.
 * https://cloud.google.com/firestore/docs/manage-data/transactions
 */
export class FirestoreSnapshotStore implements SnapshotStore {
  private readonly root: CollectionReference;
  private readonly clock: Clock;
  private readonly maxEntries: number;
  private readonly maxBucketBytes: number;
  private closed = false;
  private readonly counters: StoreCounters = { documentReads: 0, documentWrites: 0, transactions: 0, bucketSplits: 0 };

  constructor(
    private readonly firestore: Firestore,
    options: FirestoreSnapshotStoreOptions,
  ) {
    try {
      this.root = firestore.collection(options.collection);
    } catch (e: unknown) {
      throw invalidStoreOption('collection', `a collection path (${errorMessage(e)})`);
    }
    this.clock = options.clock ?? systemClock;
    this.maxEntries = options.entitiesPerBucket ?? DEFAULTS.gcp.firestore.entitiesPerBucket;
    if (!Number.isSafeInteger(this.maxEntries) || this.maxEntries < 2) {
      throw invalidStoreOption('entitiesPerBucket', `an integer of at least 2, got ${this.maxEntries}`);
    }
    this.maxBucketBytes = options.maxBucketBytes ?? DEFAULTS.gcp.firestore.maxBucketBytes;
    if (!Number.isSafeInteger(this.maxBucketBytes) || this.maxBucketBytes < 16 * 1024) {
      throw invalidStoreOption('maxBucketBytes', `an integer of at least 16384, got ${this.maxBucketBytes}`);
    }
    if (this.maxBucketBytes > MAX_BUCKET_BYTES_CEILING) {
      throw invalidStoreOption('maxBucketBytes', `at most ${MAX_BUCKET_BYTES_CEILING} (1 MiB less a margin)`);
    }
  }

  stats(): FirestoreSnapshotStoreStats {
    return { ...this.counters };
  }

  /** Reads the meta document, every bucket and the pending documents in one read-only transaction: 1 + B + P reads. */
  load(source: string): Promise<SnapshotState> {
    return this.transaction(`loading "${source}"`, (tx) => readSnapshot(tx, this.layoutOf(source)), {
      readOnly: true,
    });
  }

  recordPending(lease: Lease, pending: readonly PendingUpdate[]): Promise<void> {
    const what = `recording ${pending.length} pending entries of "${lease.source}"`;
    return this.guard(what, () =>
      recordPendingGroup((work) => this.transaction(what, work), this.fencedWrite(lease), pending),
    );
  }

  commit(lease: Lease, updates: readonly SnapshotUpdate[]): Promise<void> {
    const what = `committing ${updates.length} entries of "${lease.source}"`;
    return this.guard(what, () =>
      commitUpdates((work) => this.transaction(what, work), this.fencedWrite(lease), updates),
    );
  }

  acquireLease(source: string, holder: string, ttlMs: number): Promise<Lease | null> {
    const what = `acquiring the lease of "${source}"`;
    return this.guard(what, () => {
      const ttl = positiveTtl(ttlMs);
      const layout = this.layoutOf(source);
      return this.transaction(what, (tx) => acquireLeaseIn(tx, layout, { holder, ttlMs: ttl, clock: this.clock }));
    });
  }

  /** Succeeds while the lease document still names this holder, even past expiry if nobody took it. */
  renewLease(lease: Lease, ttlMs: number): Promise<Lease | null> {
    const what = `renewing the lease of "${lease.source}"`;
    return this.guard(what, () => {
      const ttl = positiveTtl(ttlMs);
      const layout = this.layoutOf(lease.source);
      return this.transaction(what, (tx) => renewLeaseIn(tx, layout, { lease, ttlMs: ttl, clock: this.clock }));
    });
  }

  /** Frees the source for other holders; a lease that has meanwhile passed to another holder is left alone. */
  releaseLease(lease: Lease): Promise<void> {
    return this.transaction(`releasing the lease of "${lease.source}"`, (tx) =>
      releaseLeaseIn(tx, this.layoutOf(lease.source), lease),
    );
  }

  getCursor(source: string): Promise<string | undefined> {
    return this.guard(`reading the cursor of "${source}"`, () =>
      readCursor(this.firestore, this.layoutOf(source), this.counters),
    );
  }

  setCursor(source: string, cursor: string): Promise<void> {
    return this.guard(`storing the cursor of "${source}"`, () =>
      writeCursor(this.layoutOf(source), cursor, this.counters),
    );
  }

  /** Idempotent. Leaves the Firestore client open: whoever built it terminates it. */
  close(): Promise<void> {
    this.closed = true;
    return Promise.resolve();
  }

  private layoutOf(source: string): SourceLayout {
    return sourceLayout(this.root, source, { maxEntries: this.maxEntries, maxBucketBytes: this.maxBucketBytes });
  }

  /** What a commit or a pending record of `lease`'s source works with. */
  private fencedWrite(lease: Lease): FencedWrite {
    return { lease, layout: this.layoutOf(lease.source), clock: this.clock, maxBucketBytes: this.maxBucketBytes };
  }

  /** Maps every failure to an `AppError` once, and refuses work after `close()`. */
  private async guard<T>(what: string, work: () => Promise<T>): Promise<T> {
    if (this.closed) throw snapshotStoreClosed(what);
    try {
      return await work();
    } catch (e: unknown) {
      throw firestoreSnapshotError(what, e);
    }
  }

  /** A counted transaction inside the guard: refused after `close()`, its failure mapped once. */
  private transaction<T>(
    what: string,
    work: (tx: CountingTransaction) => Promise<T>,
    options: { readOnly?: boolean } = {},
  ): Promise<T> {
    return this.guard(what, () => runCountedTransaction(this.firestore, this.counters, work, options));
  }
}
