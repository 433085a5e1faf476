import {
  baselineUpdates,
  diffSnapshot,
  hashRecord,
  legacyHashRecord,
  SnapshotDiffer,
  type CurrentRecord,
} from '@changefeed/shared/change';
import { EventType, type SnapshotEntry } from '@changefeed/shared/ports';

function current(records: Record<string, unknown>): Map<string, CurrentRecord> {
  return new Map(Object.entries(records).map(([id, record]) => [id, { record, hash: hashRecord(record) }]));
}

const STABLE_HASH = 'b352e0f6e37b79c5';

function entry(record: unknown, version: number, deleted = false): SnapshotEntry {
  return { hash: deleted ? '' : hashRecord(record), version, deleted };
}

describe('hashRecord', () => {
  it('ignores key order at every depth, so a re-serialised but equal record is not a change', () => {
    expect(hashRecord({ a: 1, b: { c: [1, 2], d: 'x' } })).toBe(hashRecord({ b: { d: 'x', c: [1, 2] }, a: 1 }));
    expect(hashRecord([{ a: 1, b: 2 }])).toBe(hashRecord([{ b: 2, a: 1 }]));
  });

  it('tells apart values that differ only in type, array order, nesting or a missing key', () => {
    const values: unknown[] = [
      null,
      true,
      false,
      0,
      1,
      -1,
      1.5,
      2 ** 40,
      '',
      '0',
      '1',
      'true',
      'null',
      [],
      {},
      [null],
      [[]],
      [{}],
      { '': null },
      { a: 1 },
      { a: '1' },
      { a: null },
      { a: [1, 2] },
      { a: [2, 1] },
      { a: { b: 1 } },
      { a: {}, b: 1 },
      { ab: 1 },
      { a: 'b1' },
      { a: 1, b: 2 },
      { a: 2, b: 1 },
      { a: [1, [2]] },
      { a: [[1], 2] },
      { a: 'x', b: 'y' },
      { a: 'xy' },
    ];
    const hashes = values.map((v) => hashRecord(v));
    expect(new Set(hashes).size).toBe(values.length);
  });

  it('treats what JSON drops as absent, as JSON.stringify does', () => {
    expect(hashRecord({ a: 1, b: undefined })).toBe(hashRecord({ a: 1 }));
    expect(hashRecord([undefined])).toBe(hashRecord([null]));
    expect(hashRecord(-0)).toBe(hashRecord(0));
  });

  it('keeps strings apart by every UTF-16 code unit, odd lengths and lone surrogates included', () => {
    const strings = [
      'a',
      'b',
      'ab',
      'ba',
      'abc',
      'abd',
      'é',
      'e\u0301',
      '\ud83d\ude00',
      '\ud83d',
      '\ude00\ud83d',
      'a\u0000',
    ];
    expect(new Set(strings.map((s) => hashRecord({ s }))).size).toBe(strings.length);
  });

  it('spreads similar records apart: 200,000 near-identical records, no two hashes alike', () => {
    const hashes = new Set<string>();
    for (let i = 0; i < 100_000; i++) {
      hashes.add(hashRecord({ id: i, price: i / 100, tags: ['a', i % 7] }));
      hashes.add(hashRecord({ id: String(i), price: i / 100, tags: ['a', i % 7] }));
    }
    expect(hashes.size).toBe(200_000);
  });

  it('is 64 bits in hex, and stable: snapshots and event ids depend on these exact values', () => {
    expect(hashRecord({ id: 1 })).toMatch(/^[0-9a-f]{16}$/);
    // Changing these values changes every stored hash: every entity would look updated once.
    expect(hashRecord({ id: 1, name: 'Ada', tags: ['x', 2.5, null, true], address: { city: 'Lyon' } })).toBe(
      STABLE_HASH,
    );
  });
});

describe('hashes of the first format (MD5 of canonical JSON) in a snapshot', () => {
  it('are recognised as the same content and re-hashed without an event', () => {
    const record = { v: 1, w: { x: 'y' } };
    const snapshot = new Map<string, SnapshotEntry>([
      ['a', { hash: legacyHashRecord(record), version: 3, deleted: false }],
      ['b', { hash: legacyHashRecord({ v: 'old' }), version: 2, deleted: false }],
    ]);
    expect(legacyHashRecord(record)).toMatch(/^[A-Za-z0-9_-]{22}$/);
    const diff = diffSnapshot(current({ a: { w: { x: 'y' }, v: 1 }, b: { v: 'new' } }), snapshot);
    expect(diff.counts).toEqual({ created: 0, updated: 1, deleted: 0, unchanged: 1 });
    expect(diff.changes.map((c) => [c.type, c.entityId, c.version])).toEqual([['updated', 'b', 3]]);
    expect(diff.rehashed).toEqual([{ entityId: 'a', hash: hashRecord(record), version: 3, deleted: false }]);
  });

  it('cost nothing once re-hashed: a snapshot of the current format has nothing to re-hash', () => {
    const snapshot = new Map([['a', entry({ v: 1 }, 1)]]);
    expect(diffSnapshot(current({ a: { v: 1 } }), snapshot).rehashed).toEqual([]);
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
    expect(baselineUpdates(diffSnapshot(current({ a: { v: 1 } }), new Map()).changes)).toEqual([
      { entityId: 'a', hash: hashRecord({ v: 1 }), version: 1, deleted: false },
    ]);
  });
});

describe('SnapshotDiffer (page by page, as the poller diffs)', () => {
  const snapshot = new Map<string, SnapshotEntry>([
    ['1', entry({ id: 1, v: 'a' }, 1)],
    ['2', entry({ id: 2, v: 'b' }, 2)],
    ['3', entry({ id: 3, v: 'c' }, 1)],
    ['4', entry(null, 3, true)],
  ]);
  const pages: unknown[][] = [
    [{ id: 1, v: 'a' }, { id: 2, v: 'B' }, null],
    [{ id: 4, v: 'back' }, { id: 1, v: 'dup' }, { v: 'no id' }],
    [{ id: 5, v: 'new' }],
  ];
  /** The same poll with every record keyed: the records the keyer skips in `pages` left out. */
  const keyedPages: unknown[][] = [
    [
      { id: 1, v: 'a' },
      { id: 2, v: 'B' },
    ],
    [{ id: 4, v: 'back' }],
    [{ id: 5, v: 'new' }],
  ];
  const changeKey = (c: { entityId: string; version: number; type: string }) => `${c.type} ${c.entityId} v${c.version}`;

  it('gives the diff of the whole poll, deletions last', () => {
    const differ = new SnapshotDiffer(snapshot, new Map(), 'id');
    for (const page of keyedPages) differ.addPage(page);
    const diff = differ.finish();
    const whole = new Map(
      keyedPages.flat().map((r) => [String((r as { id: number }).id), { record: r, hash: hashRecord(r) }]),
    );
    expect(diff.changes).toEqual(diffSnapshot(whole, snapshot).changes);
    expect(diff.changes.map((c) => [c.type, c.entityId, c.version])).toEqual([
      ['updated', '2', 3],
      ['created', '4', 4],
      ['created', '5', 1],
      ['deleted', '3', 2],
    ]);
    expect(diff.deletionsSuppressed).toBe(0);
  });

  it('counts what it skipped, and then deletes nothing: an absent entity may be a skipped record', () => {
    const differ = new SnapshotDiffer(snapshot, new Map(), 'id');
    for (const page of pages) differ.addPage(page);
    const diff = differ.finish();
    expect(diff.changes.map(changeKey)).toEqual(['updated 2 v3', 'created 4 v4', 'created 5 v1']);
    expect(diff.counts).toEqual({ created: 2, updated: 1, deleted: 0, unchanged: 1 });
    expect(diff.deletionsSuppressed).toBe(1);
    expect(differ.records).toBe(7);
    expect(differ.skipped).toEqual({ notObject: 1, missingId: 1, duplicateId: 1 });
    expect(differ.firstSkippedAt).toEqual([2, 4, 5]);
  });

  it('with a skipped record, an absent entity with a pending event gets no event and stays pending', () => {
    // A creation of 9 was published but not committed; 9 is absent now, and one record has no id.
    const pending = new Map([['9', { type: EventType.created, hash: hashRecord({ id: 9 }), version: 1 }]]);
    const differ = new SnapshotDiffer(snapshot, pending, 'id');
    differ.addPage([...(keyedPages[0] ?? []), { v: 'no id' }]);
    const diff = differ.finish();
    expect(diff.changes.map(changeKey)).toEqual(['updated 2 v3']);
    expect(diff.resolved).toEqual([]);

    const keyed = new SnapshotDiffer(snapshot, pending, 'id');
    keyed.addPage(keyedPages[0] ?? []);
    expect(keyed.finish().changes.map(changeKey)).toContain('deleted 9 v2');
  });

  it('reconciles pending events with the records of their entities', () => {
    const pending = new Map([['1', { type: EventType.updated, hash: hashRecord({ id: 1, v: 'x' }), version: 2 }]]);
    const differ = new SnapshotDiffer(snapshot, pending, 'id');
    for (const page of pages) differ.addPage(page);
    const diff = differ.finish();
    // The API shows the committed state again: a revert above the pending version.
    expect(diff.changes.find((c) => c.entityId === '1')).toMatchObject({ type: 'updated', version: 3 });
  });
  it('hands out full groups of creations and updates as pages arrive; finish gives the rest and the deletions', () => {
    const pending = new Map([['2', { type: EventType.updated, hash: hashRecord({ id: 2, v: 'x' }), version: 3 }]]);
    const streamed = new SnapshotDiffer(snapshot, pending, 'id');
    const groups: string[][] = [];
    for (const page of keyedPages) {
      streamed.addPage(page);
      for (const group of streamed.takeGroups(1))
        groups.push(group.map((c) => `${c.type} ${c.entityId} v${c.version}`));
    }
    // Entity 2 has a pending event: it waits for finish, as deletions do.
    expect(groups).toEqual([['created 4 v4'], ['created 5 v1']]);
    const rest = streamed.finish();
    expect(rest.changes.map((c) => `${c.type} ${c.entityId} v${c.version}`)).toEqual(['updated 2 v4', 'deleted 3 v2']);

    const whole = new SnapshotDiffer(snapshot, pending, 'id');
    for (const page of keyedPages) whole.addPage(page);
    const all = whole.finish();
    expect(rest.counts).toEqual(all.counts);
    const key = (c: { entityId: string; version: number; type: string }) => `${c.type} ${c.entityId} v${c.version}`;
    expect([...groups.flat(), ...rest.changes.map(key)].sort()).toEqual(all.changes.map(key).sort());
  });

  it('keeps what does not fill a group for the next call', () => {
    const differ = new SnapshotDiffer(new Map(), new Map(), 'id');
    differ.addPage([{ id: 1 }, { id: 2 }, { id: 3 }]);
    expect(differ.takeGroups(2).map((g) => g.map((c) => c.entityId))).toEqual([['1', '2']]);
    differ.addPage([{ id: 4 }]);
    expect(differ.takeGroups(2).map((g) => g.map((c) => c.entityId))).toEqual([['3', '4']]);
    differ.addPage([{ id: 5 }]);
    expect(differ.takeGroups(2)).toEqual([]);
    expect(differ.finish().changes.map((c) => c.entityId)).toEqual(['5']);
  });
});
