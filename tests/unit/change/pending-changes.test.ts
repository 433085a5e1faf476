import {
  diffSnapshot,
  hashRecord,
  pendingUpdateFor,
  reconcilePending,
  type CurrentRecord,
} from '@changefeed/shared/change';
import { EventType, type PendingEntry, type SnapshotEntry } from '@changefeed/shared/ports';

const A = { v: 'A' };
const B = { v: 'B' };
const C = { v: 'C' };

function current(records: Record<string, unknown>): Map<string, CurrentRecord> {
  return new Map(Object.entries(records).map(([id, record]) => [id, { record, hash: hashRecord(record) }]));
}

function alive(record: unknown, version: number): SnapshotEntry {
  return { hash: hashRecord(record), version, deleted: false };
}

function tombstone(version: number): SnapshotEntry {
  return { hash: '', version, deleted: true };
}

function pending(type: EventType, record: unknown, version: number): PendingEntry {
  return { type, hash: type === EventType.deleted ? '' : hashRecord(record), version };
}

/** The plain diff, then the correction for `pending`: what the poller runs. */
function reconcile(
  now: Record<string, unknown>,
  snapshot: Record<string, SnapshotEntry>,
  pendingEntries: Record<string, PendingEntry>,
) {
  const cur = current(now);
  const snap = new Map(Object.entries(snapshot));
  return reconcilePending(diffSnapshot(cur, snap), cur, snap, new Map(Object.entries(pendingEntries)));
}

function summary(changes: readonly { type: string; entityId: string; version: number; hash: string }[]) {
  return changes.map((c) => `${c.type} ${c.entityId} v${c.version}${c.hash === '' ? '' : ` ${c.hash.slice(0, 4)}`}`);
}

const h = (record: unknown) => hashRecord(record).slice(0, 4);

describe('reconcilePending', () => {
  it('without pending entries returns the plain diff as it is', () => {
    const cur = current({ e: B });
    const snap = new Map([['e', alive(A, 1)]]);
    const diff = diffSnapshot(cur, snap);
    const result = reconcilePending(diff, cur, snap, new Map());
    expect(result.changes).toBe(diff.changes);
    expect(result.counts).toBe(diff.counts);
    expect(result.resolved).toEqual([]);
  });

  it('when the API still shows the pending state, repeats the pending event exactly (same version and type: same event id)', () => {
    const result = reconcile({ e: B }, { e: alive(A, 1) }, { e: pending(EventType.updated, B, 2) });
    expect(summary(result.changes)).toEqual([`updated e v2 ${h(B)}`]);
    expect(result.changes[0]?.record).toEqual(B);
    expect(result.counts).toEqual({ created: 0, updated: 1, deleted: 0, unchanged: 0 });
  });

  it('a revert to the committed state after a pending update emits the committed state at a version above both', () => {
    const result = reconcile(
      { e: A, other: A },
      { e: alive(A, 4), other: alive(A, 1) },
      { e: pending(EventType.updated, B, 5) },
    );
    expect(summary(result.changes)).toEqual([`updated e v6 ${h(A)}`]);
    expect(result.changes[0]?.record).toEqual(A);
    expect(result.counts).toEqual({ created: 0, updated: 1, deleted: 0, unchanged: 1 });
  });

  it('an entity that reappears unchanged after a pending deletion is created again', () => {
    const result = reconcile({ e: A }, { e: alive(A, 3) }, { e: pending(EventType.deleted, null, 4) });
    expect(summary(result.changes)).toEqual([`created e v5 ${h(A)}`]);
    expect(result.counts).toEqual({ created: 1, updated: 0, deleted: 0, unchanged: 0 });
  });

  it('an entity gone again after its pending creation is deleted, though the snapshot never knew it', () => {
    const result = reconcile({}, {}, { n: pending(EventType.created, A, 1) });
    expect(summary(result.changes)).toEqual(['deleted n v2']);
    expect(result.changes[0]).toMatchObject({ hash: '', record: null });
    expect(result.counts).toEqual({ created: 0, updated: 0, deleted: 1, unchanged: 0 });
  });

  it('an entity gone after a pending update is deleted above the pending version', () => {
    const result = reconcile({}, { e: alive(A, 1) }, { e: pending(EventType.updated, B, 2) });
    expect(summary(result.changes)).toEqual(['deleted e v3']);
    expect(result.counts).toEqual({ created: 0, updated: 0, deleted: 1, unchanged: 0 });
  });

  it('a third state after a pending update gets a version above the pending one, not the same version again', () => {
    const result = reconcile({ e: C }, { e: alive(A, 1) }, { e: pending(EventType.updated, B, 2) });
    expect(summary(result.changes)).toEqual([`updated e v3 ${h(C)}`]);
    expect(result.counts).toEqual({ created: 0, updated: 1, deleted: 0, unchanged: 0 });
  });

  it('a changed record after a pending creation of a tombstoned id is created above both versions', () => {
    const result = reconcile({ e: C }, { e: tombstone(7) }, { e: pending(EventType.created, B, 8) });
    expect(summary(result.changes)).toEqual([`created e v9 ${h(C)}`]);
  });

  it('a pending revert that equals the committed state is still repeated: an older uncommitted event may be what the warehouse shows', () => {
    // A v1 committed; B v2 published, crash; A v3 (the revert) published, crash; the API shows A.
    const result = reconcile({ e: A }, { e: alive(A, 1) }, { e: pending(EventType.updated, A, 3) });
    expect(summary(result.changes)).toEqual([`updated e v3 ${h(A)}`]);
    expect(result.counts).toEqual({ created: 0, updated: 1, deleted: 0, unchanged: 0 });
  });

  it('a pending deletion the API still shows is repeated as the same deletion', () => {
    const result = reconcile({}, { e: alive(A, 2) }, { e: pending(EventType.deleted, null, 3) });
    expect(summary(result.changes)).toEqual(['deleted e v3']);
  });

  it('a stale pending entry (the committed version reaches it) emits nothing and commits the entry again to clear it', () => {
    const result = reconcile(
      { e: A, f: C },
      { e: alive(A, 3), f: alive(B, 2) },
      { e: pending(EventType.updated, B, 3), f: pending(EventType.updated, A, 1) },
    );
    // f's own change is the plain diff's, untouched by its stale pending entry.
    expect(summary(result.changes)).toEqual([`updated f v3 ${h(C)}`]);
    expect(result.resolved).toEqual([
      { entityId: 'e', ...alive(A, 3) },
      { entityId: 'f', ...alive(B, 2) },
    ]);
    expect(result.counts).toEqual({ created: 0, updated: 1, deleted: 0, unchanged: 1 });
  });

  it('keeps the other changes in their place and appends the pending entities the plain diff did not see', () => {
    const result = reconcile(
      { a: B, e: A, b: B },
      { a: alive(A, 1), e: alive(A, 1), b: alive(A, 1), gone: alive(A, 1) },
      { b: pending(EventType.updated, C, 2), e: pending(EventType.updated, C, 2) },
    );
    expect(summary(result.changes)).toEqual([
      `updated a v2 ${h(B)}`,
      `updated b v3 ${h(B)}`,
      'deleted gone v2',
      `updated e v3 ${h(A)}`,
    ]);
    expect(result.counts).toEqual({ created: 0, updated: 3, deleted: 1, unchanged: 0 });
  });
});

describe('pendingUpdateFor', () => {
  it('keeps what the event id is made of: type, version and hash', () => {
    expect(pendingUpdateFor({ type: EventType.created, entityId: 'e', version: 4, hash: 'x', record: {} })).toEqual({
      entityId: 'e',
      type: 'created',
      version: 4,
      hash: 'x',
    });
  });
});
