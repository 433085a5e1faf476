import { baselineUpdates, diffSnapshot, hashRecord, type CurrentRecord } from '@changefeed/shared/change';
import type { SnapshotEntry } from '@changefeed/shared/ports';

function current(records: Record<string, unknown>): Map<string, CurrentRecord> {
  return new Map(Object.entries(records).map(([id, record]) => [id, { record, hash: hashRecord(record) }]));
}

function entry(record: unknown, version: number, deleted = false): SnapshotEntry {
  return { hash: deleted ? '' : hashRecord(record), version, deleted };
}

describe('hashRecord', () => {
  it('ignores key order, so a re-serialised but equal record is not a change', () => {
    expect(hashRecord({ a: 1, b: { c: [1, 2], d: 'x' } })).toBe(hashRecord({ b: { d: 'x', c: [1, 2] }, a: 1 }));
  });

  it('tells apart values that differ only in type or array order', () => {
    expect(hashRecord({ a: 1 })).not.toBe(hashRecord({ a: '1' }));
    expect(hashRecord({ a: [1, 2] })).not.toBe(hashRecord({ a: [2, 1] }));
    expect(hashRecord({ a: null })).not.toBe(hashRecord({}));
  });

  it('is 128 bits in base64url', () => {
    expect(hashRecord({ id: 1 })).toMatch(/^[A-Za-z0-9_-]{22}$/);
  });
});

describe('diffSnapshot', () => {
  it('on an empty snapshot, every record is created at version 1', () => {
    const diff = diffSnapshot(current({ a: { v: 1 }, b: { v: 2 } }), new Map());
    expect(diff.changes.map((c) => [c.type, c.entityId, c.version])).toEqual([
      ['created', 'a', 1],
      ['created', 'b', 1],
    ]);
    expect(diff.counts).toEqual({ created: 2, updated: 0, deleted: 0, unchanged: 0 });
  });

  it('finds updates, deletions and unchanged records against the snapshot', () => {
    const snapshot = new Map([
      ['a', entry({ v: 1 }, 1)],
      ['b', entry({ v: 2 }, 3)],
      ['c', entry({ v: 3 }, 2)],
    ]);
    const diff = diffSnapshot(current({ a: { v: 1 }, b: { v: 20 }, d: { v: 4 } }), snapshot);
    expect(diff.changes.map((c) => [c.type, c.entityId, c.version])).toEqual([
      ['updated', 'b', 4],
      ['created', 'd', 1],
      ['deleted', 'c', 3],
    ]);
    expect(diff.counts).toEqual({ created: 1, updated: 1, deleted: 1, unchanged: 1 });
    const deletion = diff.changes.find((c) => c.type === 'deleted');
    expect(deletion).toMatchObject({ hash: '', record: null });
  });

  it('continues the version sequence when a deleted id is re-created', () => {
    const snapshot = new Map([['a', entry(null, 2, true)]]);
    const diff = diffSnapshot(current({ a: { v: 'again' } }), snapshot);
    expect(diff.changes).toEqual([
      { type: 'created', entityId: 'a', version: 3, hash: hashRecord({ v: 'again' }), record: { v: 'again' } },
    ]);
  });

  it('does not delete a tombstone twice', () => {
    const diff = diffSnapshot(new Map(), new Map([['a', entry(null, 2, true)]]));
    expect(diff.changes).toEqual([]);
  });
});

describe('baselineUpdates', () => {
  it('remembers every entity as version 1 without a deletion flag', () => {
    expect(baselineUpdates(current({ a: { v: 1 } }))).toEqual([
      { entityId: 'a', hash: hashRecord({ v: 1 }), version: 1, deleted: false },
    ]);
  });
});
