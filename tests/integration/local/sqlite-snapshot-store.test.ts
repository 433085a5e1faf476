import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { SqliteSnapshotStore } from '@changefeed/shared/adapters/local';
import { AppError } from '@changefeed/shared/errors';
import type { SnapshotUpdate } from '@changefeed/shared/ports';
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

  it('entries, leases and cursors survive close and reopen', async () => {
    const lease = await store.acquireLease('carts', 'poller-a', TTL_MS);
    await store.commit(lease!, [{ entityId: '1', hash: 'h1', version: 2, deleted: true }]);
    await store.setCursor('products', 'c-1');
    await store.close();

    store = SqliteSnapshotStore.open(file, { clock });

    expect(await store.load('carts')).toEqual({
      initialized: true,
      entries: new Map([['1', { hash: 'h1', version: 2, deleted: true }]]),
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
