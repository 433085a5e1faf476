import { randomUUID } from 'node:crypto';
import { AppError } from '@changefeed/shared/errors';
import {
  EventType,
  type Lease,
  type PendingEntry,
  type SnapshotStore,
  type SnapshotUpdate,
} from '@changefeed/shared/ports';
import { FakeClock } from '../support/source-fakes';

/** Builds a store whose leases expire by `clock`. Called once per test; the suite closes it. */
export type MakeSnapshotStore = (clock: FakeClock) => SnapshotStore | Promise<SnapshotStore>;

const TTL_MS = 60_000;

function update(entityId: string, version: number, options: { deleted?: boolean; hash?: string } = {}): SnapshotUpdate {
  return { entityId, version, hash: options.hash ?? `h-${entityId}-${version}`, deleted: options.deleted ?? false };
}

function pending(
  entityId: string,
  version: number,
  type: EventType = EventType.updated,
  hash = type === EventType.deleted ? '' : `p-${entityId}-${version}`,
) {
  return { entityId, version, type, hash };
}

/** What `load` shows of `pending(...)` entries. */
function shown(...entries: ReturnType<typeof pending>[]): Record<string, PendingEntry> {
  return Object.fromEntries(entries.map(({ entityId, ...entry }) => [entityId, entry]));
}

async function leaseLostError(promise: Promise<unknown>): Promise<AppError> {
  const error: unknown = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(AppError);
  expect(error).toMatchObject({ code: 'SNAPSHOT.LEASE_LOST', retryable: false });
  return error as AppError;
}

/**
 * What every SnapshotStore must do, whatever holds the data (SQLite locally, Firestore on GCP).
 * Each test uses its own source names, so a store shared between tests (an emulator) works too.
 */
export function snapshotStoreContract(name: string, makeStore: MakeSnapshotStore): void {
  describe(`SnapshotStore contract: ${name}`, () => {
    let clock: FakeClock;
    let store: SnapshotStore;
    let source: string;
    let other: string;

    beforeEach(async () => {
      clock = new FakeClock();
      store = await makeStore(clock);
      const run = randomUUID().slice(0, 8);
      source = `carts-${run}`;
      other = `users-${run}`;
    });

    afterEach(() => store.close());

    async function lease(of = source, holder = 'poller-a'): Promise<Lease> {
      const taken = await store.acquireLease(of, holder, TTL_MS);
      if (taken === null) throw new Error(`test setup: ${holder} could not take the lease of ${of}`);
      return taken;
    }

    describe('entries', () => {
      it('a source that was never committed loads as not initialized and empty', async () => {
        const state = await store.load(source);
        expect(state.initialized).toBe(false);
        expect(state.entries.size).toBe(0);
        expect(state.pending.size).toBe(0);
      });

      it('what was committed loads back, tombstones included', async () => {
        await store.commit(await lease(), [update('1', 1), update('2', 3, { deleted: true })]);
        const state = await store.load(source);
        expect(state.initialized).toBe(true);
        expect(Object.fromEntries(state.entries)).toEqual({
          '1': { hash: 'h-1-1', version: 1, deleted: false },
          '2': { hash: 'h-2-3', version: 3, deleted: true },
        });
      });

      it('a later commit changes the entries it names and keeps the others', async () => {
        const held = await lease();
        await store.commit(held, [update('1', 1), update('2', 1)]);
        await store.commit(held, [update('2', 2, { hash: 'changed' }), update('3', 1)]);
        const { entries } = await store.load(source);
        expect(Object.fromEntries(entries)).toEqual({
          '1': { hash: 'h-1-1', version: 1, deleted: false },
          '2': { hash: 'changed', version: 2, deleted: false },
          '3': { hash: 'h-3-1', version: 1, deleted: false },
        });
      });

      it('a tombstone can come back to life with the next version', async () => {
        const held = await lease();
        await store.commit(held, [update('1', 2, { deleted: true })]);
        await store.commit(held, [update('1', 3)]);
        expect((await store.load(source)).entries.get('1')).toEqual({ hash: 'h-1-3', version: 3, deleted: false });
      });

      it('an empty commit still marks the source initialized (an empty API as baseline)', async () => {
        await store.commit(await lease(), []);
        const state = await store.load(source);
        expect(state.initialized).toBe(true);
        expect(state.entries.size).toBe(0);
      });

      it('sources never see each other’s entries', async () => {
        await store.commit(await lease(source), [update('1', 1)]);
        await store.commit(await lease(other), [update('1', 7), update('2', 1)]);
        expect((await store.load(source)).entries.get('1')?.version).toBe(1);
        expect((await store.load(source)).entries.size).toBe(1);
        expect((await store.load(other)).entries.size).toBe(2);
      });

      it('a commit of thousands of entries lands whole', async () => {
        const updates = Array.from({ length: 2_500 }, (_, i) => update(`e${i}`, 1 + (i % 5)));
        await store.commit(await lease(), updates);
        const { entries } = await store.load(source);
        expect(entries.size).toBe(2_500);
        expect(entries.get('e2499')).toEqual({ hash: 'h-e2499-5', version: 5, deleted: false });
      });

      it('entity ids are kept exactly, including unicode, slashes and case', async () => {
        const ids = ['a/b', 'A/b', 'é-ü', ' spaced ', '0042'];
        await store.commit(
          await lease(),
          ids.map((id) => update(id, 1)),
        );
        expect([...(await store.load(source)).entries.keys()].sort()).toEqual([...ids].sort());
      });
    });

    describe('pending entries (write-ahead intent of a publish group)', () => {
      it('load back with their type, version and hash, beside the committed entries, which they leave alone', async () => {
        const held = await lease();
        await store.commit(held, [update('1', 1), update('3', 1)]);
        const group = [pending('1', 2), pending('2', 1, EventType.created), pending('3', 2, EventType.deleted)];
        await store.recordPending(held, group);
        const state = await store.load(source);
        expect(Object.fromEntries(state.pending)).toEqual(shown(...group));
        expect(Object.fromEntries(state.entries)).toEqual({
          '1': { hash: 'h-1-1', version: 1, deleted: false },
          '3': { hash: 'h-3-1', version: 1, deleted: false },
        });
      });

      it('do not initialize the source: a crash in the first group still leaves a cold start', async () => {
        await store.recordPending(await lease(), [pending('1', 1, EventType.created)]);
        const state = await store.load(source);
        expect(state.initialized).toBe(false);
        expect(state.entries.size).toBe(0);
        expect(Object.fromEntries(state.pending)).toEqual(shown(pending('1', 1, EventType.created)));
      });

      it('a commit clears the ones it covers and keeps the rest (a partly acknowledged group)', async () => {
        const held = await lease();
        await store.recordPending(held, [pending('a', 1, EventType.created), pending('b', 4), pending('c', 2)]);
        await store.commit(held, [update('a', 1), update('b', 4)]);
        expect(Object.fromEntries((await store.load(source)).pending)).toEqual(shown(pending('c', 2)));
        await store.commit(held, [update('c', 2)]);
        expect((await store.load(source)).pending.size).toBe(0);
      });

      it('a commit of a higher version covers one (a change that superseded it), a lower version does not', async () => {
        const held = await lease();
        await store.recordPending(held, [pending('up', 2), pending('down', 3)]);
        await store.commit(held, [update('up', 3), update('down', 2)]);
        expect(Object.fromEntries((await store.load(source)).pending)).toEqual(shown(pending('down', 3)));
      });

      it('a newer entry of an entity supersedes its older one, and an older one recorded later does not hide it', async () => {
        const held = await lease();
        await store.recordPending(held, [pending('a', 2, EventType.updated, 'first'), pending('b', 1)]);
        await store.recordPending(held, [pending('a', 3, EventType.updated, 'second')]);
        await store.recordPending(held, [pending('a', 2, EventType.updated, 'late')]);
        expect(Object.fromEntries((await store.load(source)).pending)).toEqual(
          shown(pending('a', 3, EventType.updated, 'second'), pending('b', 1)),
        );
        await store.commit(held, [update('a', 3)]);
        expect(Object.fromEntries((await store.load(source)).pending)).toEqual(shown(pending('b', 1)));
      });

      it('within one call the last entry of an entity wins', async () => {
        const held = await lease();
        await store.recordPending(held, [
          pending('a', 2, EventType.updated, 'x'),
          pending('a', 2, EventType.updated, 'y'),
        ]);
        expect(Object.fromEntries((await store.load(source)).pending)).toEqual(
          shown(pending('a', 2, EventType.updated, 'y')),
        );
      });

      it('recording the same group again (a bus that refuses it every cycle) still shows it once, and one commit clears it', async () => {
        const held = await lease();
        const group = Array.from({ length: 50 }, (_, i) => pending(`e${i}`, 2));
        for (let cycle = 0; cycle < 3; cycle++) await store.recordPending(held, group);
        expect((await store.load(source)).pending.size).toBe(50);
        await store.commit(
          held,
          group.map((p) => update(p.entityId, p.version)),
        );
        expect((await store.load(source)).pending.size).toBe(0);
      });

      it('sources never see each other’s pending entries', async () => {
        await store.recordPending(await lease(source), [pending('1', 2)]);
        await store.commit(await lease(other), [update('1', 2)]);
        expect(Object.fromEntries((await store.load(source)).pending)).toEqual(shown(pending('1', 2)));
        expect((await store.load(other)).pending.size).toBe(0);
      });

      it('entity ids are kept exactly, including empty, reserved, unicode and unpaired surrogates', async () => {
        const ids = ['a/b', 'A/b', 'é-ü', ' spaced ', '', '__x__', '\ud800lone', 'x'.repeat(2_000)];
        await store.recordPending(
          await lease(),
          ids.map((id) => pending(id, 2, EventType.updated, 'h')),
        );
        expect([...(await store.load(source)).pending.keys()].sort()).toEqual([...ids].sort());
      });

      it('a group of 1,000 entries with 200-character ids is recorded whole and cleared whole', async () => {
        const held = await lease();
        const group = Array.from({ length: 1_000 }, (_, i) => pending(`${i}-`.padEnd(200, 'x'), 1 + (i % 3)));
        await store.recordPending(held, group);
        expect(Object.fromEntries((await store.load(source)).pending)).toEqual(shown(...group));
        await store.commit(
          held,
          group.map((p) => update(p.entityId, p.version)),
        );
        expect((await store.load(source)).pending.size).toBe(0);
      });
    });

    describe('leases', () => {
      it('a free lease goes to the first holder and is refused to a second', async () => {
        const first = await store.acquireLease(source, 'poller-a', TTL_MS);
        expect(first).toEqual({
          source,
          holder: 'poller-a',
          expiresAt: new Date(clock.now().getTime() + TTL_MS),
        });
        expect(await store.acquireLease(source, 'poller-b', TTL_MS)).toBeNull();
      });

      it('the holder can acquire its own lease again, which extends it', async () => {
        await lease();
        clock.advance(TTL_MS - 1);
        const again = await store.acquireLease(source, 'poller-a', TTL_MS);
        expect(again?.expiresAt).toEqual(new Date(clock.now().getTime() + TTL_MS));
        clock.advance(2);
        expect(await store.acquireLease(source, 'poller-b', TTL_MS)).toBeNull();
      });

      it('a lease is held until the millisecond it expires, then another holder can take it', async () => {
        await lease();
        clock.advance(TTL_MS - 1);
        expect(await store.acquireLease(source, 'poller-b', TTL_MS)).toBeNull();
        clock.advance(1);
        expect(await store.acquireLease(source, 'poller-b', TTL_MS)).toMatchObject({ holder: 'poller-b' });
      });

      it('leases of different sources are independent', async () => {
        await lease(source, 'poller-a');
        expect(await store.acquireLease(other, 'poller-b', TTL_MS)).toMatchObject({
          source: other,
          holder: 'poller-b',
        });
      });

      it('renewing pushes the expiry out, so a contender is still refused after the first TTL', async () => {
        const held = await lease();
        clock.advance(TTL_MS / 2);
        const renewed = await store.renewLease(held, TTL_MS);
        expect(renewed).toEqual({ ...held, expiresAt: new Date(clock.now().getTime() + TTL_MS) });
        clock.advance(TTL_MS / 2 + 1);
        expect(await store.acquireLease(source, 'poller-b', TTL_MS)).toBeNull();
      });

      it('renewing a lease another holder has taken returns null', async () => {
        const held = await lease();
        clock.advance(TTL_MS);
        await lease(source, 'poller-b');
        expect(await store.renewLease(held, TTL_MS)).toBeNull();
      });

      it('an expired lease nobody took can still be renewed by its holder', async () => {
        const held = await lease();
        clock.advance(TTL_MS + 1);
        expect(await store.renewLease(held, TTL_MS)).toMatchObject({ holder: 'poller-a' });
        expect(await store.acquireLease(source, 'poller-b', TTL_MS)).toBeNull();
      });

      it('a released lease can be taken by another holder at once', async () => {
        await store.releaseLease(await lease());
        expect(await store.acquireLease(source, 'poller-b', TTL_MS)).toMatchObject({ holder: 'poller-b' });
      });

      it('releasing a stale lease leaves the new holder’s lease alone', async () => {
        const stale = await lease();
        clock.advance(TTL_MS);
        await lease(source, 'poller-b');
        await store.releaseLease(stale);
        expect(await store.acquireLease(source, 'poller-c', TTL_MS)).toBeNull();
      });
    });

    describe('commits are fenced by the lease', () => {
      it('a commit with an expired lease is refused with SNAPSHOT.LEASE_LOST and writes nothing', async () => {
        const held = await lease();
        clock.advance(TTL_MS);
        await leaseLostError(store.commit(held, [update('1', 1)]));
        const state = await store.load(source);
        expect(state.initialized).toBe(false);
        expect(state.entries.size).toBe(0);
      });

      it('a commit after another holder took the lease writes nothing, not even part of it', async () => {
        const held = await lease();
        await store.commit(held, [update('1', 1)]);
        clock.advance(TTL_MS);
        await lease(source, 'poller-b');
        await leaseLostError(store.commit(held, [update('1', 2), update('2', 1)]));
        expect(Object.fromEntries((await store.load(source)).entries)).toEqual({
          '1': { hash: 'h-1-1', version: 1, deleted: false },
        });
      });

      it('a commit after the lease was released is refused', async () => {
        const held = await lease();
        await store.releaseLease(held);
        await leaseLostError(store.commit(held, []));
        expect((await store.load(source)).initialized).toBe(false);
      });

      it('a lease for one source cannot commit another source', async () => {
        const held = await lease(source);
        await leaseLostError(store.commit({ ...held, source: other }, [update('1', 1)]));
        expect((await store.load(other)).initialized).toBe(false);
      });

      it('recording pending entries with a lost lease is refused with SNAPSHOT.LEASE_LOST and records nothing', async () => {
        const held = await lease();
        clock.advance(TTL_MS);
        await lease(source, 'poller-b');
        await leaseLostError(store.recordPending(held, [pending('1', 1, EventType.created)]));
        expect((await store.load(source)).pending.size).toBe(0);
      });

      it('a refused commit clears no pending entry', async () => {
        const held = await lease();
        await store.recordPending(held, [pending('1', 2)]);
        clock.advance(TTL_MS);
        await leaseLostError(store.commit(held, [update('1', 2)]));
        expect(Object.fromEntries((await store.load(source)).pending)).toEqual(shown(pending('1', 2)));
      });

      it('a renewed lease keeps committing past the first TTL', async () => {
        const held = await lease();
        clock.advance(TTL_MS - 1);
        const renewed = await store.renewLease(held, TTL_MS);
        expect(renewed).not.toBeNull();
        clock.advance(TTL_MS - 1);
        await store.commit(renewed ?? held, [update('1', 1)]);
        expect((await store.load(source)).entries.size).toBe(1);
      });
    });

    // What a cursor alone must do is the CursorStore contract's (cursor-store.contract.ts), which
    // runs against the same stores; here only how cursors and snapshots of one source coexist.
    describe('cursors', () => {
      it("a source's cursor and its snapshot leave each other alone", async () => {
        await store.setCursor(source, '2024-01-01T00:00:00.000Z');
        expect((await store.load(source)).initialized).toBe(false);

        await store.commit(await lease(), [update('1', 1)]);
        expect(await store.getCursor(source)).toBe('2024-01-01T00:00:00.000Z');
        expect((await store.load(source)).entries.size).toBe(1);
      });
    });
  });
}
