import { randomUUID } from 'node:crypto';
import { Firestore, GrpcStatus } from '@google-cloud/firestore';
import { FirestoreSnapshotStore, type FirestoreSnapshotStoreOptions } from '@changefeed/shared/adapters/gcp';
import { AppError } from '@changefeed/shared/errors';
import {
  EventType,
  type Clock,
  type Lease,
  type PendingUpdate,
  type SnapshotStore,
  type SnapshotUpdate,
} from '@changefeed/shared/ports';
import { firestoreSnapshotError } from '../../../shared/adapters/gcp/firestore-snapshot-errors';
import { cursorStoreContract } from '../../contract/cursor-store.contract';
import { snapshotStoreContract } from '../../contract/snapshot-store.contract';
import { FakeClock } from '../../support/source-fakes';

/**
 * The Firestore snapshot store against the emulator the test setup started (FIRESTORE_EMULATOR_HOST),
 * through the official client, unchanged. Every run writes under its own root collection.
 */
const PROJECT_ID = 'changefeed-test';
const COLLECTION = `snapshots-${Date.now()}-${randomUUID().slice(0, 6)}`;
const TTL_MS = 60_000;
const ONE_MIB = 1024 * 1024;

let db: Firestore;

beforeAll(() => {
  db = new Firestore({ projectId: PROJECT_ID });
});

afterAll(() => db.terminate());

snapshotStoreContract(
  'FirestoreSnapshotStore',
  (clock) => new FirestoreSnapshotStore(db, { collection: COLLECTION, clock }),
);

cursorStoreContract('FirestoreSnapshotStore', () => {
  const opened: FirestoreSnapshotStore[] = [];
  return {
    open: () => {
      const store = new FirestoreSnapshotStore(db, { collection: COLLECTION });
      opened.push(store);
      return store;
    },
    close: async () => {
      for (const store of opened) await store.close();
    },
  };
});

function update(entityId: string, version: number, options: { deleted?: boolean; hash?: string } = {}): SnapshotUpdate {
  return { entityId, version, hash: options.hash ?? `h-${entityId}-${version}`, deleted: options.deleted ?? false };
}

/** A 22-character base64url string: the longest hash a snapshot holds (`legacyHashRecord`'s, the first format). */
function recordHash(seed: string): string {
  return Buffer.from(seed.padEnd(16, '.').slice(0, 16)).toString('base64url');
}

/** An id of exactly `length` characters, unique by `i`. */
function longId(i: number, length: number): string {
  return `${i}-`.padEnd(length, 'x');
}

/** Commits like the poller does: one group of `groupSize` after the other. */
async function commitInGroups(
  store: SnapshotStore,
  lease: Lease,
  updates: readonly SnapshotUpdate[],
  groupSize = 1000,
): Promise<void> {
  for (let i = 0; i < updates.length; i += groupSize) await store.commit(lease, updates.slice(i, i + groupSize));
}

async function rejection(promise: Promise<unknown>): Promise<AppError> {
  const error: unknown = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(AppError);
  return error as AppError;
}

/**
 * A document's size by Firestore's documented rules, computed independently of the store's own
 * estimate: name (segments as strings, + 16) + fields + 32; strings are UTF-8 bytes + 1, numbers 8,
 * booleans 1, arrays and maps the sum of their parts.
 * https://cloud.google.com/firestore/docs/storage-size
 */
function firestoreDocumentSize(path: string, data: Record<string, unknown>): number {
  const str = (s: string): number => Buffer.byteLength(s, 'utf8') + 1;
  const value = (v: unknown): number => {
    if (typeof v === 'string') return str(v);
    if (typeof v === 'number') return 8;
    if (typeof v === 'boolean' || v === null) return 1;
    if (Array.isArray(v)) return v.reduce((sum: number, x) => sum + value(x), 0);
    if (typeof v === 'object') return Object.entries(v).reduce((sum, [k, x]) => sum + str(k) + value(x), 0);
    throw new Error(`unexpected value of type ${typeof v}`);
  };
  const name = path.split('/').reduce((sum, segment) => sum + str(segment), 16);
  return name + value(data) + 32;
}

interface BucketDoc {
  readonly id: string;
  readonly entries: number;
  readonly bytes: number;
}

/** The bucket documents of a source, read with the client directly (not through the store, not counted). */
async function bucketDocs(source: string): Promise<BucketDoc[]> {
  const snap = await db.collection(COLLECTION).doc(source).collection('snapshotBuckets').get();
  return snap.docs.map((doc) => {
    const data = doc.data();
    const entries = Object.keys((data['e'] ?? {}) as object).length + Object.keys((data['l'] ?? {}) as object).length;
    return { id: doc.id, entries, bytes: firestoreDocumentSize(doc.ref.path, data) };
  });
}

/** The pending documents of a source, with their Firestore size, read with the client directly. */
async function pendingDocs(source: string): Promise<{ id: string; bytes: number }[]> {
  const snap = await db.collection(COLLECTION).doc(source).collection('pendingGroups').get();
  return snap.docs.map((doc) => ({ id: doc.id, bytes: firestoreDocumentSize(doc.ref.path, doc.data()) }));
}

function pendingGroup(size: number, idLength: number): PendingUpdate[] {
  return Array.from({ length: size }, (_, i) => ({
    entityId: longId(i, idLength),
    hash: recordHash(`r${i}`),
    version: 2,
    type: EventType.updated,
  }));
}

function committed(group: readonly PendingUpdate[]): SnapshotUpdate[] {
  return group.map((p) => ({ entityId: p.entityId, hash: p.hash, version: p.version, deleted: false }));
}

describe('FirestoreSnapshotStore', () => {
  let clock: FakeClock;
  let source: string;
  const stores: FirestoreSnapshotStore[] = [];

  function newStore(options: Partial<FirestoreSnapshotStoreOptions> = {}, client = db): FirestoreSnapshotStore {
    const store = new FirestoreSnapshotStore(client, { collection: COLLECTION, clock, ...options });
    stores.push(store);
    return store;
  }

  async function lease(store: SnapshotStore, holder = 'poller-a'): Promise<Lease> {
    const taken = await store.acquireLease(source, holder, TTL_MS);
    if (taken === null) throw new Error(`test setup: ${holder} could not take the lease of ${source}`);
    return taken;
  }

  beforeEach(() => {
    clock = new FakeClock();
    source = `src-${randomUUID().slice(0, 8)}`;
  });

  afterEach(async () => {
    await Promise.all(stores.splice(0).map((s) => s.close()));
  });

  describe('buckets', () => {
    it('full buckets are cut as the source grows, and every entry survives with its latest value', async () => {
      const store = newStore({ entitiesPerBucket: 20 });
      const held = await lease(store);
      const created = Array.from({ length: 1000 }, (_, i) => update(`cart-${i}`, 1));
      await commitInGroups(store, held, created, 100);
      const changed = created
        .filter((_, i) => i % 3 === 0)
        .map((u, i) => update(u.entityId, 2, { deleted: i % 2 === 0, hash: `changed-${u.entityId}` }));
      await commitInGroups(store, held, changed, 100);

      const { entries } = await store.load(source);

      const expected = new Map(created.map((u) => [u.entityId, { hash: u.hash, version: 1, deleted: false }]));
      for (const u of changed) expected.set(u.entityId, { hash: u.hash, version: 2, deleted: u.deleted });
      expect(entries).toEqual(expected);
      const buckets = await bucketDocs(source);
      expect(buckets.length).toBeGreaterThanOrEqual(1000 / 20);
      expect(Math.max(...buckets.map((b) => b.entries))).toBeLessThanOrEqual(20);
      expect(store.stats().bucketSplits).toBeGreaterThan(0);
    });

    it('bucket documents stay far under 1 MiB with 200-character ids', async () => {
      const store = newStore();
      const updates = Array.from({ length: 10_000 }, (_, i) => ({
        ...update(longId(i, 200), 1 + (i % 7)),
        hash: recordHash(`r${i}`),
      }));
      await commitInGroups(store, await lease(store), updates);

      const buckets = await bucketDocs(source);
      const largest = Math.max(...buckets.map((b) => b.bytes));
      console.log(
        `10,000 entries with 200-character ids: ${buckets.length} buckets, largest ${largest} bytes, ` +
          `at most ${Math.max(...buckets.map((b) => b.entries))} entries`,
      );
      expect(largest).toBeLessThanOrEqual(512 * 1024);
      expect(largest).toBeLessThan(ONE_MIB);
      expect((await store.load(source)).entries.size).toBe(10_000);
    });

    it('with long ids the byte limit, not the entry count, decides when a bucket is cut', async () => {
      const maxBucketBytes = 64 * 1024;
      const store = newStore({ maxBucketBytes });
      const updates = Array.from({ length: 600 }, (_, i) => update(longId(i, 1000), 1));
      await commitInGroups(store, await lease(store), updates, 200);

      const buckets = await bucketDocs(source);
      expect(Math.max(...buckets.map((b) => b.bytes))).toBeLessThanOrEqual(maxBucketBytes);
      // 2,000 entries would fit by count; ~60 of these fit by bytes.
      expect(Math.max(...buckets.map((b) => b.entries))).toBeLessThan(70);
      expect((await store.load(source)).entries.size).toBe(600);
    });

    it('one poll of 20,000 entities reads the meta document and the B ≤ 20 buckets, nothing per entity', async () => {
      const store = newStore();
      const updates = Array.from({ length: 20_000 }, (_, i) => ({
        ...update(randomUUID(), 1),
        hash: recordHash(`r${i}`),
      }));
      const held = await lease(store);
      const commitStart = Date.now();
      await commitInGroups(store, held, updates);
      const commitMs = Date.now() - commitStart;
      const before = store.stats().documentReads;

      const loadStart = Date.now();
      const { entries } = await store.load(source);
      const loadMs = Date.now() - loadStart;
      const reads = store.stats().documentReads - before;

      const buckets = (await bucketDocs(source)).length;
      console.log(
        `20,000 entities: B = ${buckets} buckets; one load read ${reads} documents (${loadMs} ms); ` +
          `20 commits of 1,000 took ${commitMs} ms; stats ${JSON.stringify(store.stats())}`,
      );
      expect(entries.size).toBe(20_000);
      expect(buckets).toBeLessThanOrEqual(Math.ceil(20_000 / 2_000) * 2);
      expect(reads).toBeLessThanOrEqual(buckets + 2);
    });

    it('a group too large for one transaction lands whole, in several fenced transactions', async () => {
      const store = newStore();
      // ~1.3 KB of request per update: ~12 MB in all, over the emulator's 4 MiB per request.
      const updates = Array.from({ length: 9_000 }, (_, i) => update(longId(i, 400), 1));
      const held = await lease(store);
      const before = store.stats().transactions;

      await store.commit(held, updates);

      expect(store.stats().transactions - before).toBeGreaterThan(3);
      const { initialized, entries } = await store.load(source);
      expect(initialized).toBe(true);
      expect(entries.size).toBe(9_000);
      expect(entries.get(longId(8_999, 400))).toEqual({
        hash: `h-${longId(8_999, 400)}-1`,
        version: 1,
        deleted: false,
      });
    });

    it('ids no map key can hold (empty, reserved, over 1 KiB, unpaired surrogates) round-trip exactly', async () => {
      const store = newStore({ entitiesPerBucket: 4 });
      const ids = ['', '__x__', '__', 'x'.repeat(2_000), 'é'.repeat(800), '\ud800lone', 'lone\udfff', 'a.b`c\\d', ' '];
      const updates = ids.map((id, i) => update(id, i + 1, { deleted: i % 2 === 1, hash: `h${i}` }));
      const held = await lease(store);
      await store.commit(held, updates);
      await store.commit(held, [update('__x__', 42)]);

      const { entries } = await store.load(source);

      expect([...entries.keys()].sort()).toEqual([...ids].sort());
      expect(entries.get('\ud800lone')).toEqual({ hash: 'h5', version: 6, deleted: true });
      expect(entries.get('__x__')).toEqual({ hash: 'h-__x__-42', version: 42, deleted: false });
    });

    it('an entry too large for any bucket is refused and nothing is written', async () => {
      const store = newStore();
      const held = await lease(store);

      const error = await rejection(store.commit(held, [update('ok', 1), update('y'.repeat(100_000), 1)]));

      expect(error).toMatchObject({ code: 'SNAPSHOT.ENTRY_TOO_LARGE', retryable: false });
      expect((await store.load(source)).initialized).toBe(false);
    });
  });

  describe('pending groups', () => {
    it('a publish group costs one pending document, written with the lease check and deleted by its commit', async () => {
      const store = newStore();
      const held = await lease(store);
      const group = pendingGroup(1_000, 36);
      const before = store.stats();

      await store.recordPending(held, group);
      const afterRecord = store.stats();
      expect(await pendingDocs(source)).toHaveLength(1);
      await store.commit(held, committed(group));

      expect(afterRecord.documentWrites - before.documentWrites).toBe(1);
      expect(afterRecord.transactions - before.transactions).toBe(1);
      expect(await pendingDocs(source)).toEqual([]);
      // The commit wrote the bucket and the meta document as before, and deleted the pending one.
      expect(store.stats().documentWrites - afterRecord.documentWrites).toBe(3);
    });

    it('1,000 entries with 1,000-character ids (over 1 MiB of JSON) are cut into documents under the bucket bound', async () => {
      const store = newStore();
      const held = await lease(store);
      const group = pendingGroup(1_000, 1_000);

      await store.recordPending(held, group);

      const docs = await pendingDocs(source);
      const largest = Math.max(...docs.map((d) => d.bytes));
      console.log(`1,000 pending entries with 1,000-character ids: ${docs.length} documents, largest ${largest} bytes`);
      expect(docs.length).toBeGreaterThan(1);
      expect(largest).toBeLessThanOrEqual(512 * 1024);
      const { pending } = await store.load(source);
      expect(pending.size).toBe(1_000);
      expect(pending.get(longId(999, 1_000))).toEqual({ type: 'updated', hash: recordHash('r999'), version: 2 });
      await store.commit(held, committed(group));
      expect(await pendingDocs(source)).toEqual([]);
    });

    it('a group too large for one transaction is written in several, each fenced by the lease', async () => {
      const store = newStore();
      const held = await lease(store);
      // ~5 MB of JSON: over the emulator's 4 MiB per request.
      const group = pendingGroup(1_000, 5_000);
      const before = store.stats().transactions;

      await store.recordPending(held, group);

      expect(store.stats().transactions - before).toBeGreaterThan(1);
      expect(Math.max(...(await pendingDocs(source)).map((d) => d.bytes))).toBeLessThanOrEqual(512 * 1024);
      expect((await store.load(source)).pending.size).toBe(1_000);
      clock.advance(TTL_MS);
      await lease(store, 'poller-b');
      expect(await rejection(store.recordPending(held, group))).toMatchObject({ code: 'SNAPSHOT.LEASE_LOST' });
    });

    it('recording the same group every cycle (a bus refusing it) keeps one copy, not one per cycle', async () => {
      const store = newStore();
      const held = await lease(store);
      const group = pendingGroup(1_000, 36);

      for (let cycle = 0; cycle < 3; cycle++) await store.recordPending(held, group);

      expect(await pendingDocs(source)).toHaveLength(1);
    });

    it('a commit that covers part of a pending document rewrites it with the rest', async () => {
      const store = newStore();
      const held = await lease(store);
      const group = pendingGroup(100, 36);
      await store.recordPending(held, group);

      await store.commit(held, committed(group.slice(0, 60)));

      expect(await pendingDocs(source)).toHaveLength(1);
      expect([...(await store.load(source)).pending.keys()].sort()).toEqual(
        group
          .slice(60)
          .map((p) => p.entityId)
          .sort(),
      );
    });

    it('an entry commit would refuse is refused before the group is recorded, so it never reaches the bus', async () => {
      const store = newStore();
      const held = await lease(store);
      const error = await rejection(store.recordPending(held, [...pendingGroup(3, 36), ...pendingGroup(1, 100_000)]));
      expect(error).toMatchObject({ code: 'SNAPSHOT.ENTRY_TOO_LARGE', retryable: false });
      expect(await pendingDocs(source)).toEqual([]);
    });

    it('a pending document that is not what the store writes fails the load as SNAPSHOT.CORRUPT', async () => {
      const store = newStore();
      await db
        .collection(COLLECTION)
        .doc(source)
        .collection('pendingGroups')
        .doc('x-0')
        .set({ group: 'x', entries: '{' });
      expect(await rejection(store.load(source))).toMatchObject({ code: 'SNAPSHOT.CORRUPT', retryable: false });
    });
  });

  describe('leases', () => {
    it('of two concurrent committers only the current holder lands, even when the commit cuts buckets', async () => {
      const otherClient = new Firestore({ projectId: PROJECT_ID });
      try {
        const a = newStore({ entitiesPerBucket: 100 });
        const b = newStore({ entitiesPerBucket: 100 }, otherClient);
        const stale = await lease(a, 'poller-a');
        await a.commit(stale, [update('shared', 1, { hash: 'from-a' })]);
        clock.advance(TTL_MS);
        const current = await lease(b, 'poller-b');

        const [fromA, fromB] = await Promise.allSettled([
          a.commit(
            stale,
            Array.from({ length: 500 }, (_, i) => update(`a-${i}`, 1)),
          ),
          b.commit(current, [
            update('shared', 2, { hash: 'from-b' }),
            ...Array.from({ length: 500 }, (_, i) => update(`b-${i}`, 1)),
          ]),
        ]);

        expect(fromB.status).toBe('fulfilled');
        expect(fromA.status).toBe('rejected');
        expect(fromA.status === 'rejected' ? fromA.reason : undefined).toMatchObject({
          code: 'SNAPSHOT.LEASE_LOST',
          retryable: false,
          message: expect.stringContaining('"poller-b" holds it now') as string,
        });
        const { entries } = await a.load(source);
        expect(entries.size).toBe(501);
        expect(entries.get('shared')).toMatchObject({ hash: 'from-b', version: 2 });
        expect([...entries.keys()].some((id) => id.startsWith('a-'))).toBe(false);
      } finally {
        await otherClient.terminate();
      }
    });

    it('a lease that expires between cutting buckets and applying the updates commits none of them', async () => {
      // Each commit round reads the clock once; this one jumps past the TTL after the first round.
      let reads = 0;
      let jumpAfter = Infinity;
      const jumpingClock: Clock = {
        now: () => {
          if (++reads > jumpAfter) clock.advance(TTL_MS);
          return clock.now();
        },
        sleep: (ms, signal) => clock.sleep(ms, signal),
      };
      const store = newStore({ entitiesPerBucket: 10, clock: jumpingClock });
      const held = await lease(store);
      const before = Array.from({ length: 10 }, (_, i) => update(`old-${i}`, 1));
      await store.commit(held, before);
      const splitsBefore = store.stats().bucketSplits;
      jumpAfter = reads + 1;

      const error = await rejection(
        store.commit(
          held,
          Array.from({ length: 5 }, (_, i) => update(`new-${i}`, 1)),
        ),
      );

      expect(error).toMatchObject({ code: 'SNAPSHOT.LEASE_LOST', retryable: false });
      expect(store.stats().bucketSplits).toBeGreaterThan(splitsBefore);
      expect(Object.fromEntries((await store.load(source)).entries)).toEqual(
        Object.fromEntries(before.map((u) => [u.entityId, { hash: u.hash, version: 1, deleted: false }])),
      );
    });

    it('two pollers racing for a free lease: exactly one gets it', async () => {
      const otherClient = new Firestore({ projectId: PROJECT_ID });
      try {
        const a = newStore();
        const b = newStore({}, otherClient);

        const results = await Promise.all([
          a.acquireLease(source, 'poller-a', TTL_MS),
          b.acquireLease(source, 'poller-b', TTL_MS),
        ]);

        const winners = results.filter((r) => r !== null);
        expect(winners).toHaveLength(1);
        expect(await a.acquireLease(source, 'poller-c', TTL_MS)).toBeNull();
      } finally {
        await otherClient.terminate();
      }
    });

    it('a lease TTL that is not positive is refused', async () => {
      expect(await rejection(newStore().acquireLease(source, 'poller-a', 0))).toMatchObject({
        code: 'SNAPSHOT.INVALID_TTL',
        retryable: false,
      });
    });
  });

  describe('the store and its client', () => {
    it('close() refuses further work but leaves the client it was given open', async () => {
      const store = newStore();
      await store.setCursor(source, 'c-1');
      await store.close();

      expect((await rejection(store.load(source))).code).toBe('SNAPSHOT.CLOSED');
      await expect(store.close()).resolves.toBeUndefined();
      expect(await newStore().getCursor(source)).toBe('c-1');
    });

    it('a source name that is no document id is stored under a hash of it, separately from others', async () => {
      const store = newStore();
      const odd = `${source}/../__x__ ü`;
      const held = await store.acquireLease(odd, 'poller-a', TTL_MS);
      await store.commit(held!, [update('1', 1)]);
      await store.setCursor(odd, 'c-odd');

      expect((await store.load(odd)).entries.size).toBe(1);
      expect(await store.getCursor(odd)).toBe('c-odd');
      expect((await store.load(source)).initialized).toBe(false);
    });

    it('a hash that is not valid Unicode is refused before anything is written', async () => {
      const store = newStore();
      const held = await lease(store);

      const error = await rejection(store.commit(held, [update('1', 1, { hash: 'h\ud800' })]));

      expect(error).toMatchObject({ code: 'SNAPSHOT.INVALID_ENTRY', retryable: false });
      expect((await store.load(source)).initialized).toBe(false);
    });

    it('SDK errors are mapped once: contention and outages retryable, the rest permanent', async () => {
      // A real refusal from the emulator: field names like __x__ are reserved.
      const refused: unknown = await db
        .collection(COLLECTION)
        .doc('refused')
        .set({ __x__: 1 })
        .catch((e: unknown) => e);

      expect(firestoreSnapshotError('writing', refused)).toMatchObject({
        code: 'SNAPSHOT.STORE_FAILED',
        retryable: false,
        details: { grpcCode: 'INVALID_ARGUMENT' },
      });
      for (const code of [GrpcStatus.UNAVAILABLE, GrpcStatus.ABORTED, GrpcStatus.RESOURCE_EXHAUSTED]) {
        expect(firestoreSnapshotError('reading', Object.assign(new Error('x'), { code }))).toMatchObject({
          code: 'SNAPSHOT.STORE_UNAVAILABLE',
          retryable: true,
        });
      }
      expect(firestoreSnapshotError('reading', new Error('no code'))).toMatchObject({ retryable: false });
    });

    it('options that cannot work are refused when the store is built', () => {
      expect(() => newStore({ entitiesPerBucket: 1 })).toThrow(
        expect.objectContaining({ code: 'SNAPSHOT.INVALID_OPTION' }) as Error,
      );
      expect(() => newStore({ maxBucketBytes: 2 * ONE_MIB })).toThrow(
        expect.objectContaining({ code: 'SNAPSHOT.INVALID_OPTION' }) as Error,
      );
      expect(() => newStore({ collection: 'a/b' })).toThrow(
        expect.objectContaining({ code: 'SNAPSHOT.INVALID_OPTION' }) as Error,
      );
    });
  });
});
