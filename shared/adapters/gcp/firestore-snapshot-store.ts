import {
  FieldValue,
  type CollectionReference,
  type DocumentReference,
  type DocumentSnapshot,
  type Firestore,
  type Query,
  type Transaction,
} from '@google-cloud/firestore';
import { createHash, randomUUID } from 'node:crypto';
import { DEFAULTS } from '../../config/defaults';
import { AppError } from '../../errors';
import { assertLeaseHeld, positiveTtl } from '../lease-rules';
import { lastPendingPerEntity, mergePendingRecords, versionsById } from '../pending-rules';
import {
  packPendingParts,
  parsePendingDoc,
  PENDING_COLLECTION,
  pendingDocData,
  pendingDocId,
  pendingDocOverheadBytes,
  pendingEntriesPatch,
  planPendingPrune,
  type PendingDoc,
  type PendingPart,
} from './firestore-pending-docs';
import { firestoreSnapshotError } from './firestore-snapshot-errors';
import {
  EventType,
  systemClock,
  type Clock,
  type Lease,
  type PendingUpdate,
  type SnapshotEntry,
  type SnapshotState,
  type SnapshotStore,
  type SnapshotUpdate,
} from '../../ports';
import {
  addLoads,
  BucketDirectory,
  bucketData,
  bucketOverheadBytes,
  encodeEntry,
  encodeUpdate,
  EntryField,
  fits,
  forEachEntry,
  loadOf,
  LONE_SURROGATE,
  MAX_BUCKET_DEPTH,
  planBucket,
  ROOT_BUCKET_ID,
  type BucketLimits,
  type BucketLoad,
  type StoredEntry,
} from './firestore-snapshot-buckets';

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

/** What this store has asked of Firestore since it was built; the emulator bills nothing, so count here. */
export interface FirestoreSnapshotStoreStats {
  /** Document snapshots returned: one per document looked up (found or not) and one per query result. */
  readonly documentReads: number;
  /** Document writes (sets, patches and deletes) in committed transactions. */
  readonly documentWrites: number;
  /** Transactions committed, read-only ones included. */
  readonly transactions: number;
  /** Buckets cut in two (or more) because they were full. */
  readonly bucketSplits: number;
}

/** The most `maxBucketBytes` may be: 1 MiB less room for the estimate's error. */
const MAX_BUCKET_BYTES_CEILING = 1024 * 1024 - 64 * 1024;

/**
 * One entry may take at most this share of a bucket, so a full bucket always holds several and
 * cutting it always makes progress. With the default 512 KiB: ids up to ~64 KB.
 */
const MAX_ENTRY_SHARE = 1 / 8;

/**
 * What one transaction may write, estimated. Production accepts 10 MiB per request (the old limit
 * of 500 writes per transaction is gone), but the emulator refuses gRPC messages over 4 MiB (it
 * answers RESOURCE_EXHAUSTED, which the client then retries for minutes). 3 MiB fits both:
 * ~9,000 updates with UUID ids, ~3,500 with 200-character ids per transaction.
 * https://cloud.google.com/firestore/quotas#writes_and_transactions
 */
const TRANSACTION_BUDGET_BYTES = 3 * 1024 * 1024;

/** Room kept in each transaction for the meta document's patch. */
const META_PATCH_RESERVE_BYTES = 256 * 1024;

/**
 * Room kept in a transaction for rewriting the pending documents it makes partly obsolete (see
 * `planPendingPrune`). A source has about one group of them, so this is rarely even approached.
 */
const PENDING_REWRITE_RESERVE_BYTES = 1024 * 1024;

/** Bumped with every layout change; a store refuses sources written by a newer one. */
const SCHEMA_VERSION = 1;

const BUCKETS_COLLECTION = 'snapshotBuckets';

/**
 * The map fields whose keys are entity ids or bucket ids. Nothing queries them, and indexed they
 * would cost an index entry per key on every write and run into Firestore's 40,000 index entries
 * per document, so terraform/ exempts them from indexing (`google_firestore_field`).
 */
export const UNINDEXED_SNAPSHOT_FIELDS = {
  /** Bucket documents, in their collection group. */
  bucketCollectionGroup: BUCKETS_COLLECTION,
  bucketFields: [EntryField.plain, EntryField.long],
  /** The meta document's bucket directory, in the configured collection. */
  metaField: 'buckets',
} as const;
const STATE_COLLECTION = 'sourceState';
const LEASE_DOC = 'lease';
const CURSOR_DOC = 'cursor';

/** Document ids safe to use as they are: Firestore forbids `/`, `.`, `..`, `__x__` and over 1,500 bytes. */
const PLAIN_DOC_ID = /^[A-Za-z0-9_-]{1,200}$/;
const RESERVED_ID = /^__[\s\S]*__$/;

interface SourceLayout {
  readonly source: string;
  readonly meta: DocumentReference;
  readonly buckets: Query;
  readonly lease: DocumentReference;
  readonly cursor: DocumentReference;
  readonly limits: BucketLimits;
  bucket(id: string): DocumentReference;
  readonly pending: Query;
  pendingDoc(id: string): DocumentReference;
}

interface SourceMeta {
  readonly exists: boolean;
  readonly initialized: boolean;
  readonly directory: BucketDirectory;
  readonly loads: ReadonlyMap<string, BucketLoad>;
}

interface LeaseDoc {
  readonly holder: string;
  readonly expiresAtMs: number;
}

/** A bucket whose estimated load, with the pending updates added, may not fit. */
interface Overflow {
  readonly id: string;
  readonly pending: readonly StoredEntry[];
}

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
 * `close()` does not terminate the Firestore client: whoever built it owns it.
 * https://cloud.google.com/firestore/docs/manage-data/transactions
 */
export class FirestoreSnapshotStore implements SnapshotStore {
  private readonly root: CollectionReference;
  private readonly clock: Clock;
  private readonly maxEntries: number;
  private readonly maxBucketBytes: number;
  private closed = false;
  private readonly counters = { documentReads: 0, documentWrites: 0, transactions: 0, bucketSplits: 0 };

  constructor(
    private readonly firestore: Firestore,
    options: FirestoreSnapshotStoreOptions,
  ) {
    try {
      this.root = firestore.collection(options.collection);
    } catch (e: unknown) {
      throw invalidOption('collection', `a collection path (${messageOf(e)})`);
    }
    this.clock = options.clock ?? systemClock;
    this.maxEntries = options.entitiesPerBucket ?? DEFAULTS.gcp.firestore.entitiesPerBucket;
    if (!Number.isSafeInteger(this.maxEntries) || this.maxEntries < 2) {
      throw invalidOption('entitiesPerBucket', `an integer of at least 2, got ${this.maxEntries}`);
    }
    this.maxBucketBytes = options.maxBucketBytes ?? DEFAULTS.gcp.firestore.maxBucketBytes;
    if (!Number.isSafeInteger(this.maxBucketBytes) || this.maxBucketBytes < 16 * 1024) {
      throw invalidOption('maxBucketBytes', `an integer of at least 16384, got ${this.maxBucketBytes}`);
    }
    if (this.maxBucketBytes > MAX_BUCKET_BYTES_CEILING) {
      throw invalidOption('maxBucketBytes', `at most ${MAX_BUCKET_BYTES_CEILING} (1 MiB less a margin)`);
    }
  }

  stats(): FirestoreSnapshotStoreStats {
    return { ...this.counters };
  }

  /** Reads the meta document, every bucket and the pending documents in one read-only transaction: 1 + B + P reads. */
  load(source: string): Promise<SnapshotState> {
    return this.transaction(
      `loading "${source}"`,
      async (tx) => {
        const layout = this.layoutOf(source);
        const [metaSnap] = await tx.getAll(layout.meta);
        const meta = parseMeta(metaSnap, layout);
        // A crash during a cold start's first group leaves pending documents and no meta document.
        const pending = mergePendingRecords((await readPendingDocs(tx, layout)).map((doc) => doc.entries));
        const entries = new Map<string, SnapshotEntry>();
        if (!meta.exists) return { initialized: false, entries, pending };
        for (const doc of await tx.query(layout.buckets)) {
          // Only the buckets the meta document names; a split removes its parent in the same transaction.
          if (!meta.directory.has(doc.id)) continue;
          forEachEntry(doc.data() ?? {}, doc.ref.path, (entityId, entry) => entries.set(entityId, entry));
        }
        return { initialized: meta.initialized, entries, pending };
      },
      { readOnly: true },
    );
  }

  /**
   * Refuses, before anything is written, the entries `commit` would refuse later: a group whose
   * entries could never be committed must not reach the bus. Then writes the group's documents,
   * as many per transaction as fit, each transaction fenced by the lease.
   */
  recordPending(lease: Lease, pending: readonly PendingUpdate[]): Promise<void> {
    const what = `recording ${pending.length} pending entries of "${lease.source}"`;
    return this.guard(what, async () => {
      const layout = this.layoutOf(lease.source);
      const entries = lastPendingPerEntity(pending);
      this.checkEntries(
        lease.source,
        entries.map((p) => encodeUpdate({ ...p, deleted: p.type === EventType.deleted })),
      );
      const group = randomUUID();
      const overhead = pendingDocOverheadBytes(
        layout.pendingDoc(pendingDocId(group, 999_999)).path.split('/'),
        lease.source,
        group,
      );
      let rest = packPendingParts(entries, this.maxBucketBytes - overhead);
      let part = 0;
      do {
        const parts = takeWithin(rest, TRANSACTION_BUDGET_BYTES - PENDING_REWRITE_RESERVE_BYTES, (p) => p.bytes);
        await this.transaction(what, (tx) => this.recordPendingRound(tx, lease, layout, { group, part, parts }));
        part += parts.length;
        rest = rest.slice(parts.length);
      } while (rest.length > 0);
    });
  }

  commit(lease: Lease, updates: readonly SnapshotUpdate[]): Promise<void> {
    const what = `committing ${updates.length} entries of "${lease.source}"`;
    return this.guard(what, async () => {
      const layout = this.layoutOf(lease.source);
      // The last update of an entity wins, as in an upsert.
      const byId = new Map<string, StoredEntry>();
      for (const u of updates) byId.set(u.entityId, encodeUpdate(u));
      this.checkEntries(lease.source, byId.values());
      let rest = [...byId.values()];
      // Each round applies a chunk of updates or cuts at least one bucket, and every cut bucket ends
      // up no fuller than its share of the chunk allows; the cap only guards against a bug looping.
      const maxRounds = 100 + 2 * rest.length;
      for (let round = 0; round < maxRounds; round++) {
        const applied = await this.transaction(what, (tx) => this.commitRound(tx, lease, layout, rest));
        rest = rest.slice(applied);
        if (rest.length === 0) return;
      }
      throw new Error(`no progress after ${maxRounds} transactions`);
    });
  }

  acquireLease(source: string, holder: string, ttlMs: number): Promise<Lease | null> {
    return this.guard(`acquiring the lease of "${source}"`, () => {
      const ttl = positiveTtl(ttlMs);
      const layout = this.layoutOf(source);
      return this.transaction(`acquiring the lease of "${source}"`, async (tx) => {
        const nowMs = this.clock.now().getTime();
        const [snap] = await tx.getAll(layout.lease);
        const current = parseLease(snap, layout);
        if (current !== undefined && current.holder !== holder && current.expiresAtMs > nowMs) return null;
        const expiresAtMs = nowMs + ttl;
        tx.set(layout.lease, { source, holder, expiresAtMs });
        return { source, holder, expiresAt: new Date(expiresAtMs) };
      });
    });
  }

  /** Succeeds while the lease document still names this holder, even past expiry if nobody took it. */
  renewLease(lease: Lease, ttlMs: number): Promise<Lease | null> {
    return this.guard(`renewing the lease of "${lease.source}"`, () => {
      const ttl = positiveTtl(ttlMs);
      const layout = this.layoutOf(lease.source);
      return this.transaction(`renewing the lease of "${lease.source}"`, async (tx) => {
        const [snap] = await tx.getAll(layout.lease);
        if (parseLease(snap, layout)?.holder !== lease.holder) return null;
        const expiresAtMs = this.clock.now().getTime() + ttl;
        tx.set(layout.lease, { source: lease.source, holder: lease.holder, expiresAtMs });
        return { ...lease, expiresAt: new Date(expiresAtMs) };
      });
    });
  }

  /** Frees the source for other holders; a lease that has meanwhile passed to another holder is left alone. */
  releaseLease(lease: Lease): Promise<void> {
    return this.transaction(`releasing the lease of "${lease.source}"`, async (tx) => {
      const layout = this.layoutOf(lease.source);
      const [snap] = await tx.getAll(layout.lease);
      if (parseLease(snap, layout)?.holder === lease.holder) tx.delete(layout.lease);
    });
  }

  getCursor(source: string): Promise<string | undefined> {
    return this.guard(`reading the cursor of "${source}"`, async () => {
      const layout = this.layoutOf(source);
      const [snap] = await this.firestore.getAll(layout.cursor);
      this.counters.documentReads += 1;
      if (snap?.exists !== true) return undefined;
      const cursor: unknown = snap.get('cursor');
      if (typeof cursor !== 'string') throw corrupt(layout.cursor.path, 'a cursor that is not a string');
      return cursor;
    });
  }

  setCursor(source: string, cursor: string): Promise<void> {
    return this.guard(`storing the cursor of "${source}"`, async () => {
      const layout = this.layoutOf(source);
      await layout.cursor.set({ source, cursor });
      this.counters.documentWrites += 1;
    });
  }

  /** Idempotent. Leaves the Firestore client open: whoever built it terminates it. */
  close(): Promise<void> {
    this.closed = true;
    return Promise.resolve();
  }

  private checkEntries(source: string, entries: Iterable<StoredEntry>): void {
    const maxEntryBytes = Math.floor(this.maxBucketBytes * MAX_ENTRY_SHARE);
    for (const e of entries) {
      if (e.bytes > maxEntryBytes) throw entryTooLarge(source, e, maxEntryBytes);
      // Firestore strings must be valid UTF-8; it would refuse the whole write (UNKNOWN, after retries).
      if (LONE_SURROGATE.test(e.entry.hash)) throw invalidHash(source, e);
    }
  }

  /**
   * Writes parts of a pending group after the lease check, and prunes the entries they make
   * obsolete from older groups' documents (a bus that refuses every cycle would otherwise leave
   * one more group per cycle).
   */
  private async recordPendingRound(
    tx: CountingTransaction,
    lease: Lease,
    layout: SourceLayout,
    write: { readonly group: string; readonly part: number; readonly parts: readonly PendingPart[] },
  ): Promise<void> {
    const [leaseSnap] = await tx.getAll(layout.lease);
    const nowMs = this.clock.now().getTime();
    assertLeaseHeld(lease, parseLease(leaseSnap, layout), nowMs);
    const older = (await readPendingDocs(tx, layout)).filter((doc) => doc.group !== write.group);
    write.parts.forEach((p, i) => {
      const fields = { source: layout.source, group: write.group, part: write.part + i, recordedAtMs: nowMs };
      tx.set(layout.pendingDoc(pendingDocId(write.group, fields.part)), pendingDocData(fields, p.json));
    });
    prunePending(tx, layout, older, versionsById(write.parts.flatMap((p) => p.entries)));
  }

  /**
   * One round of a commit: applies the next transaction-sized chunk of `rest` and returns how many
   * updates it applied, or cuts the buckets the chunk would overfill and returns 0.
   */
  private async commitRound(
    tx: CountingTransaction,
    lease: Lease,
    layout: SourceLayout,
    rest: readonly StoredEntry[],
  ): Promise<number> {
    const [leaseSnap, metaSnap] = await tx.getAll(layout.lease, layout.meta);
    assertLeaseHeld(lease, parseLease(leaseSnap, layout), this.clock.now().getTime());
    const meta = parseMeta(metaSnap, layout);
    const pending = await readPendingDocs(tx, layout);

    const reserve = pending.length > 0 ? PENDING_REWRITE_RESERVE_BYTES : 0;
    const chunk = takeWithin(
      rest,
      TRANSACTION_BUDGET_BYTES - META_PATCH_RESERVE_BYTES - reserve,
      (e) => e.requestBytes,
    );
    const groups = new Map<string, StoredEntry[]>();
    for (const e of chunk) {
      const id = meta.directory.bucketOf(e.bits);
      const group = groups.get(id);
      if (group === undefined) groups.set(id, [e]);
      else group.push(e);
    }
    const overflows: Overflow[] = [];
    for (const [id, pending] of groups) {
      if (!fits(addLoads(loadIn(meta, id), loadOf(pending)), layout.limits)) overflows.push({ id, pending });
    }
    if (overflows.length > 0) {
      await this.cutBuckets(tx, layout, meta, overflows);
      return 0;
    }

    const loads: Record<string, [number, number]> = {};
    if (!meta.exists) loads[ROOT_BUCKET_ID] = [0, 0];
    for (const [id, pending] of groups) {
      tx.set(layout.bucket(id), bucketData(pending), { merge: true });
      const load = addLoads(loadIn(meta, id), loadOf(pending));
      loads[id] = [load.count, load.bytes];
    }
    tx.set(layout.meta, metaPatch(layout, { initialized: true, buckets: loads }), { merge: true });
    // Only what this transaction commits: a later round may never land if the lease is lost.
    prunePending(
      tx,
      layout,
      pending,
      versionsById(chunk.map((e) => ({ entityId: e.entityId, version: e.entry.version }))),
    );
    return chunk.length;
  }

  /**
   * Reads overflowing buckets (as many as one transaction can rewrite) and settles or cuts each.
   * Moves entries between documents without changing any, so it needs no atomicity with the
   * updates that made it necessary.
   */
  private async cutBuckets(
    tx: CountingTransaction,
    layout: SourceLayout,
    meta: SourceMeta,
    overflows: readonly Overflow[],
  ): Promise<void> {
    const chosen: Overflow[] = [];
    let budget = TRANSACTION_BUDGET_BYTES - META_PATCH_RESERVE_BYTES;
    for (const overflow of overflows) {
      const bytes = loadIn(meta, overflow.id).bytes + this.maxBucketBytes - layout.limits.maxEntryBytes;
      if (chosen.length > 0 && bytes > budget) break;
      chosen.push(overflow);
      budget -= bytes;
    }
    const snaps = await tx.getAll(...chosen.map((o) => layout.bucket(o.id)));
    const loads: Record<string, [number, number] | FieldValue> = {};
    chosen.forEach(({ id, pending }, i) => {
      const snap = snaps[i];
      const current: StoredEntry[] = [];
      if (snap?.exists === true) {
        forEachEntry(snap.data() ?? {}, snap.ref.path, (entityId, entry) => current.push(encodeEntry(entityId, entry)));
      }
      const pieces = planBucket(id, current, pending, layout.limits);
      const only = pieces[0];
      if (pieces.length === 1 && only !== undefined && only.id === id) {
        loads[id] = [only.load.count, only.load.bytes];
        return;
      }
      tx.delete(layout.bucket(id));
      loads[id] = FieldValue.delete();
      for (const piece of pieces) {
        // Children are new prefixes, so no document exists there yet; an empty one needs none.
        if (piece.entries.length > 0) tx.set(layout.bucket(piece.id), bucketData(piece.entries));
        loads[piece.id] = [piece.load.count, piece.load.bytes];
      }
      tx.splits += 1;
    });
    tx.set(layout.meta, metaPatch(layout, { buckets: loads }), { merge: true });
  }

  private layoutOf(source: string): SourceLayout {
    const docId = PLAIN_DOC_ID.test(source) && !RESERVED_ID.test(source) ? source : `~${sha256Hex(source)}`;
    const meta = this.root.doc(docId);
    const buckets = meta.collection(BUCKETS_COLLECTION);
    const state = meta.collection(STATE_COLLECTION);
    const pending = meta.collection(PENDING_COLLECTION);
    // The deepest bucket id has the longest document name; size every bucket as if it were that one.
    const overhead = bucketOverheadBytes([...buckets.path.split('/'), ROOT_BUCKET_ID + '0'.repeat(MAX_BUCKET_DEPTH)]);
    return {
      source,
      meta,
      buckets,
      lease: state.doc(LEASE_DOC),
      cursor: state.doc(CURSOR_DOC),
      limits: { maxEntries: this.maxEntries, maxEntryBytes: this.maxBucketBytes - overhead },
      bucket: (id) => buckets.doc(id),
      pending,
      pendingDoc: (id) => pending.doc(id),
    };
  }

  /** Maps every failure to an `AppError` once, and refuses work after `close()`. */
  private async guard<T>(what: string, work: () => Promise<T>): Promise<T> {
    if (this.closed) {
      throw new AppError('SNAPSHOT.CLOSED', `Snapshot store: ${what}: the store is closed`, { retryable: false });
    }
    try {
      return await work();
    } catch (e: unknown) {
      throw firestoreSnapshotError(what, e);
    }
  }

  /**
   * Runs `work` in a Firestore transaction (retried by the client on contention). Reads are counted
   * as they happen, writes only for the attempt that committed.
   */
  private transaction<T>(
    what: string,
    work: (tx: CountingTransaction) => Promise<T>,
    options: { readOnly?: boolean } = {},
  ): Promise<T> {
    return this.guard(what, async () => {
      let last: CountingTransaction | undefined;
      const result = await this.firestore.runTransaction(async (transaction) => {
        last = new CountingTransaction(transaction, this.counters);
        return work(last);
      }, options);
      this.counters.transactions += 1;
      this.counters.documentWrites += last?.writes ?? 0;
      this.counters.bucketSplits += last?.splits ?? 0;
      return result;
    });
  }
}

/** A transaction that counts what it reads and writes. */
class CountingTransaction {
  writes = 0;
  splits = 0;

  constructor(
    private readonly tx: Transaction,
    private readonly counters: { documentReads: number },
  ) {}

  async getAll(...refs: DocumentReference[]): Promise<DocumentSnapshot[]> {
    const snaps = await this.tx.getAll(...refs);
    this.counters.documentReads += snaps.length;
    return snaps;
  }

  async query(query: Query): Promise<DocumentSnapshot[]> {
    const { docs } = await this.tx.get(query);
    this.counters.documentReads += docs.length;
    return docs;
  }

  set(ref: DocumentReference, data: Record<string, unknown>, options?: { merge: true }): void {
    if (options === undefined) this.tx.set(ref, data);
    else this.tx.set(ref, data, options);
    this.writes += 1;
  }

  delete(ref: DocumentReference): void {
    this.tx.delete(ref);
    this.writes += 1;
  }
}

async function readPendingDocs(tx: CountingTransaction, layout: SourceLayout): Promise<PendingDoc[]> {
  return (await tx.query(layout.pending)).map((doc) => parsePendingDoc(doc.id, doc.data() ?? {}, doc.ref.path));
}

function prunePending(
  tx: CountingTransaction,
  layout: SourceLayout,
  docs: readonly PendingDoc[],
  covering: ReadonlyMap<string, number>,
): void {
  if (docs.length === 0) return;
  const plan = planPendingPrune(docs, covering, PENDING_REWRITE_RESERVE_BYTES);
  for (const id of plan.deletes) tx.delete(layout.pendingDoc(id));
  for (const { id, json } of plan.rewrites) tx.set(layout.pendingDoc(id), pendingEntriesPatch(json), { merge: true });
}

/** The longest prefix of `rest` whose writes fit in `budget` bytes (at least one item). */
function takeWithin<T>(rest: readonly T[], budget: number, costOf: (item: T) => number): readonly T[] {
  let used = 0;
  let n = 0;
  while (n < rest.length) {
    const item = rest[n];
    const cost = item === undefined ? 0 : costOf(item);
    if (n > 0 && used + cost > budget) break;
    used += cost;
    n += 1;
  }
  return n === rest.length ? rest : rest.slice(0, n);
}

function loadIn(meta: SourceMeta, id: string): BucketLoad {
  return meta.loads.get(id) ?? { count: 0, bytes: 0 };
}

function metaPatch(layout: SourceLayout, fields: Record<string, unknown>): Record<string, unknown> {
  const patch: Record<string, unknown> = { source: layout.source, schema: SCHEMA_VERSION, ...fields };
  // `buckets: {}` under merge would replace the whole map with an empty one.
  const buckets = patch[UNINDEXED_SNAPSHOT_FIELDS.metaField];
  if (typeof buckets === 'object' && buckets !== null && Object.keys(buckets).length === 0) {
    delete patch[UNINDEXED_SNAPSHOT_FIELDS.metaField];
  }
  return patch;
}

function parseMeta(snap: DocumentSnapshot | undefined, layout: SourceLayout): SourceMeta {
  if (snap?.exists !== true) {
    return { exists: false, initialized: false, directory: new BucketDirectory([ROOT_BUCKET_ID]), loads: new Map() };
  }
  const where = layout.meta.path;
  const schema: unknown = snap.get('schema');
  if (typeof schema === 'number' && schema > SCHEMA_VERSION) {
    throw new AppError(
      'SNAPSHOT.SCHEMA_TOO_NEW',
      `The snapshot of "${layout.source}" at ${where} has schema version ${schema}; this changefeed knows up to ${SCHEMA_VERSION}. Upgrade changefeed.`,
      { retryable: false },
    );
  }
  const raw: unknown = snap.get(UNINDEXED_SNAPSHOT_FIELDS.metaField) ?? { [ROOT_BUCKET_ID]: [0, 0] };
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw))
    throw corrupt(where, 'a buckets field that is not a map');
  const loads = new Map<string, BucketLoad>();
  for (const [id, value] of Object.entries(raw)) {
    const [count, bytes] = Array.isArray(value) ? (value as unknown[]) : [];
    if (!/^b[01]*$/.test(id) || typeof count !== 'number' || typeof bytes !== 'number') {
      throw corrupt(where, `a malformed bucket entry "${id}"`);
    }
    loads.set(id, { count, bytes });
  }
  return {
    exists: true,
    initialized: snap.get('initialized') === true,
    directory: new BucketDirectory(loads.keys()),
    loads,
  };
}

function parseLease(snap: DocumentSnapshot | undefined, layout: SourceLayout): LeaseDoc | undefined {
  if (snap?.exists !== true) return undefined;
  const holder: unknown = snap.get('holder');
  const expiresAtMs: unknown = snap.get('expiresAtMs');
  if (typeof holder !== 'string' || typeof expiresAtMs !== 'number') {
    throw corrupt(layout.lease.path, 'a lease without holder or expiresAtMs');
  }
  return { holder, expiresAtMs };
}

function entryTooLarge(source: string, e: StoredEntry, maxBytes: number): AppError {
  const preview = e.entityId.length > 80 ? `${e.entityId.slice(0, 80)}…` : e.entityId;
  return new AppError(
    'SNAPSHOT.ENTRY_TOO_LARGE',
    `The snapshot entry of "${preview}" in "${source}" would take ${e.bytes} bytes; a bucket of ${maxBytes * 8} bytes takes entries up to ${maxBytes} bytes. Nothing was committed.`,
    { retryable: false, details: { source, entryBytes: e.bytes, maxEntryBytes: maxBytes } },
  );
}

function invalidHash(source: string, e: StoredEntry): AppError {
  return new AppError(
    'SNAPSHOT.INVALID_ENTRY',
    `The snapshot entry of "${e.entityId.slice(0, 80)}" in "${source}" has a hash that is not valid Unicode (an unpaired surrogate). Nothing was committed.`,
    { retryable: false, details: { source } },
  );
}

function invalidOption(name: string, expected: string): AppError {
  return new AppError('SNAPSHOT.INVALID_OPTION', `FirestoreSnapshotStore: ${name} must be ${expected}`, {
    retryable: false,
  });
}

function corrupt(where: string, what: string): AppError {
  return new AppError('SNAPSHOT.CORRUPT', `Snapshot store (Firestore): ${where} holds ${what}`, {
    retryable: false,
    details: { where },
  });
}

function sha256Hex(s: string): string {
  return createHash('sha256').update(s, 'utf8').digest('hex');
}

/** Like `errorMessage`, but also for errors from another realm (jest's VM context), which fail `instanceof Error`. */
function messageOf(e: unknown): string {
  if (typeof e === 'object' && e !== null && 'message' in e && typeof e.message === 'string') return e.message;
  return String(e);
}
