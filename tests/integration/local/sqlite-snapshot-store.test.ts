import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { SqliteSnapshotStore } from '@changefeed/shared/adapters/local';
import { AppError } from '@changefeed/shared/errors';
import type { SnapshotUpdate } from '@changefeed/shared/ports';
import { cursorStoreContract } from '../../contract/cursor-store.contract';
import { snapshotStoreContract } from '../../contract/snapshot-store.contract';
import { FakeClock } from '../../support/source-fakes';

let dir: string;
let fileCount = 0;

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'changefeed-sqlite-test-'));
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

function newFile(): string {
  return path.join(dir, `state-${++fileCount}.sqlite`);
}

async function rejection(promise: Promise<unknown>): Promise<AppError> {
  const error: unknown = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(AppError);
  return error as AppError;
}

snapshotStoreContract('SqliteSnapshotStore', (clock) => SqliteSnapshotStore.open(newFile(), { clock }));

cursorStoreContract('SqliteSnapshotStore', () => {
  // Every store of one harness opens the same file, as a batch job that runs again does.
  const file = newFile();
  const opened: SqliteSnapshotStore[] = [];
  return {
    open: () => {
      const store = SqliteSnapshotStore.open(file);
      opened.push(store);
      return store;
    },
    close: async () => {
      for (const store of opened) await store.close();
    },
  };
});

describe('SqliteSnapshotStore', () => {
  const TTL_MS = 60_000;
  let file: string;
  let clock: FakeClock;
  let store: SqliteSnapshotStore;

  beforeEach(() => {
    file = newFile();
    clock = new FakeClock();
    store = SqliteSnapshotStore.open(file, { clock });
  });

  afterEach(() => store.close());

  it('entries, pending entries, leases and cursors survive close and reopen', async () => {
    const lease = await store.acquireLease('carts', 'poller-a', TTL_MS);
    await store.commit(lease!, [{ entityId: '1', hash: 'h1', version: 2, deleted: true }]);
    await store.recordPending(lease!, [{ entityId: '1', hash: 'h3', version: 3, type: 'created' }]);
    await store.setCursor('products', 'c-1');
    await store.close();

    store = SqliteSnapshotStore.open(file, { clock });

    expect(await store.load('carts')).toEqual({
      initialized: true,
      entries: new Map([['1', { hash: 'h1', version: 2, deleted: true }]]),
      pending: new Map([['1', { hash: 'h3', version: 3, type: 'created' }]]),
    });
    expect(await store.getCursor('products')).toBe('c-1');
    expect(await store.acquireLease('carts', 'poller-b', TTL_MS)).toBeNull();
  });

  it('100k entries commit and load back whole', async () => {
    const updates: SnapshotUpdate[] = Array.from({ length: 100_000 }, (_, i) => ({
      entityId: `cart-${i}`,
      hash: `0123456789abcdef0123456789abcdef-${i}`,
      version: 1 + (i % 7),
      deleted: i % 10 === 0,
    }));
    const lease = await store.acquireLease('carts', 'poller-a', TTL_MS);
    await store.commit(lease!, updates);

    const { entries } = await store.load('carts');

    expect(entries.size).toBe(100_000);
    expect(entries.get('cart-99990')).toEqual({
      hash: '0123456789abcdef0123456789abcdef-99990',
      version: 1 + (99_990 % 7),
      deleted: true,
    });
    expect([...entries.values()].filter((e) => e.deleted)).toHaveLength(10_000);
  });

  it('two stores on one file (two pollers) share the lease: only the holder can commit', async () => {
    const second = SqliteSnapshotStore.open(file, { clock });
    try {
      const lease = await store.acquireLease('carts', 'poller-a', TTL_MS);
      expect(await second.acquireLease('carts', 'poller-b', TTL_MS)).toBeNull();
      clock.advance(TTL_MS);
      const taken = await second.acquireLease('carts', 'poller-b', TTL_MS);
      await second.commit(taken!, [{ entityId: '1', hash: 'b', version: 1, deleted: false }]);

      const error = await rejection(store.commit(lease!, [{ entityId: '1', hash: 'a', version: 1, deleted: false }]));

      expect(error).toMatchObject({ code: 'SNAPSHOT.LEASE_LOST', retryable: false });
      expect(error.message).toContain('"poller-b" holds it now');
      expect((await store.load('carts')).entries.get('1')?.hash).toBe('b');
    } finally {
      await second.close();
    }
  });

  it('keeps one pending row per recorded group, and none once the group is committed', async () => {
    const lease = (await store.acquireLease('carts', 'poller-a', TTL_MS))!;
    const group = Array.from({ length: 1_000 }, (_, i) => ({
      entityId: `cart-${i}`,
      hash: `h${i}`,
      version: 2,
      type: 'updated' as const,
    }));
    const rows = (): unknown => {
      const db = new Database(file, { readonly: true });
      try {
        return db.prepare('SELECT count(*) FROM pending').pluck().get();
      } finally {
        db.close();
      }
    };

    // A bus that refuses the group every cycle: each cycle records it again.
    for (let cycle = 0; cycle < 3; cycle++) await store.recordPending(lease, group);
    expect(rows()).toBe(1);
    await store.commit(
      lease,
      group.slice(0, 600).map((p) => ({ entityId: p.entityId, hash: p.hash, version: 2, deleted: false })),
    );
    expect(rows()).toBe(1);
    expect((await store.load('carts')).pending.size).toBe(400);
    await store.commit(
      lease,
      group.slice(600).map((p) => ({ entityId: p.entityId, hash: p.hash, version: 2, deleted: false })),
    );
    expect(rows()).toBe(0);
  });

  it('opens a schema-1 file (before pending entries) with its entries, and records pending entries in it', async () => {
    await store.close();
    const old = newFile();
    const db = new Database(old);
    db.exec(`
      CREATE TABLE entries (source TEXT NOT NULL, entity_id TEXT NOT NULL, hash TEXT NOT NULL, version INTEGER NOT NULL,
        deleted INTEGER NOT NULL, PRIMARY KEY (source, entity_id)) WITHOUT ROWID;
      CREATE TABLE sources (source TEXT NOT NULL PRIMARY KEY, initialized INTEGER NOT NULL);
      CREATE TABLE leases (source TEXT NOT NULL PRIMARY KEY, holder TEXT NOT NULL, expires_at INTEGER NOT NULL);
      CREATE TABLE cursors (source TEXT NOT NULL PRIMARY KEY, cursor TEXT NOT NULL);
      INSERT INTO entries VALUES ('carts', '1', 'h1', 4, 0);
      INSERT INTO sources VALUES ('carts', 1);
    `);
    db.pragma('user_version = 1');
    db.close();

    store = SqliteSnapshotStore.open(old, { clock });

    expect(await store.load('carts')).toEqual({
      initialized: true,
      entries: new Map([['1', { hash: 'h1', version: 4, deleted: false }]]),
      pending: new Map(),
    });
    const lease = (await store.acquireLease('carts', 'poller-a', TTL_MS))!;
    await store.recordPending(lease, [{ entityId: '1', hash: 'h5', version: 5, type: 'updated' }]);
    expect((await store.load('carts')).pending.get('1')).toEqual({ hash: 'h5', version: 5, type: 'updated' });
    const reopened = new Database(old, { readonly: true });
    try {
      expect(reopened.pragma('user_version', { simple: true })).toBe(2);
    } finally {
      reopened.close();
    }
  });

  it('a pending row that is not what the store writes fails the load as SNAPSHOT.CORRUPT, naming the file', async () => {
    const db = new Database(file);
    db.prepare('INSERT INTO pending (source, entries) VALUES (\'carts\', \'[["1", "h", 0, "updated"]]\')').run();
    db.close();

    const error = await rejection(store.load('carts'));

    expect(error).toMatchObject({ code: 'SNAPSHOT.CORRUPT', retryable: false });
    expect(error.message).toContain(file);
  });

  it('keeps its file in WAL mode so readers do not block the poller', async () => {
    await store.close();
    const db = new Database(file, { readonly: true });
    try {
      expect(db.pragma('journal_mode', { simple: true })).toBe('wal');
    } finally {
      db.close();
    }
    store = SqliteSnapshotStore.open(file, { clock });
  });

  it('refuses a file written by a newer schema instead of guessing', async () => {
    await store.close();
    const db = new Database(file);
    db.pragma('user_version = 99');
    db.close();

    expect(() => SqliteSnapshotStore.open(file, { clock })).toThrow(
      expect.objectContaining({ code: 'SNAPSHOT.SCHEMA_TOO_NEW', retryable: false }) as Error,
    );

    store = SqliteSnapshotStore.open(newFile(), { clock });
  });

  it('a file that is not a database fails to open with its name in the error', () => {
    expect(() => SqliteSnapshotStore.open(dir, { clock })).toThrow(
      expect.objectContaining({
        code: 'SNAPSHOT.OPEN_FAILED',
        message: expect.stringContaining(dir) as string,
      }) as Error,
    );
  });

  it('a lease TTL that is not positive is refused', async () => {
    expect(await rejection(store.acquireLease('carts', 'poller-a', 0))).toMatchObject({
      code: 'SNAPSHOT.INVALID_TTL',
      retryable: false,
    });
  });

  it('after close every operation is refused and closing again is harmless', async () => {
    await store.close();
    expect((await rejection(store.load('carts'))).code).toBe('SNAPSHOT.CLOSED');
    await expect(store.close()).resolves.toBeUndefined();
  });
});
