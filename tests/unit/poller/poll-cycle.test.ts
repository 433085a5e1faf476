import { hashRecord, legacyHashRecord } from '@changefeed/shared/change';
import { AppError } from '@changefeed/shared/errors';
import { sourceSchema, type SourceConfig } from '@changefeed/shared/config';
import { createSilentLogger } from '@changefeed/shared/log';
import { EventType, type SourceClient } from '@changefeed/shared/ports';
import { runPollCycle, type PollCycleDeps } from '../../../services/poller/src/poll-cycle';
import { SourceLease } from '../../../services/poller/src/source-lease';
import { FakeEventPublisher, MemorySnapshotStore } from '../../support/poller-fakes';
import { FakeClock, FakeRunLog, FakeSourceClient, captureLog, sequentialIds } from '../../support/source-fakes';

function source(overrides: Record<string, unknown> = {}): SourceConfig {
  return sourceSchema.parse({
    name: 'carts',
    mode: 'stream',
    request: { url: 'http://api.test/carts' },
    idField: 'id',
    table: 'carts',
    ...overrides,
  });
}

/** A poller's world: the API's pages change between cycles; the store and bus persist. */
function world(src = source()) {
  const clock = new FakeClock();
  const snapshots = new MemorySnapshotStore(clock);
  const publisher = new FakeEventPublisher();
  const runLog = new FakeRunLog();
  const newRunId = sequentialIds();
  const cycle = async (
    pages: unknown[][] | SourceClient,
    extra: Partial<PollCycleDeps> & { publishBatchSize?: number; signal?: AbortSignal } = {},
  ) => {
    const lease = await snapshots.acquireLease(src.name, 'me', 60_000);
    if (lease === null) throw new Error('lease busy');
    const sourceClient = Array.isArray(pages) ? new FakeSourceClient(pages) : pages;
    const deps: PollCycleDeps = {
      sourceClient,
      snapshots,
      publisher,
      runLog,
      clock,
      logger: createSilentLogger(),
      ...extra,
    };
    return runPollCycle(deps, src, new SourceLease(snapshots, lease, 60_000), {
      publishBatchSize: extra.publishBatchSize ?? 1000,
      signal: extra.signal,
      newRunId,
    });
  };
  return { clock, snapshots, publisher, runLog, cycle };
}

describe('runPollCycle', () => {
  it('on a cold start, emits every entity as created and commits the snapshot', async () => {
    const w = world();
    const result = await w.cycle([[{ id: 1, n: 'a' }], [{ id: 2, n: 'b' }]]);
    expect(result).toMatchObject({ status: 'succeeded', coldStart: true, pages: 2, records: 2, published: 2 });
    expect(w.publisher.summary()).toEqual(['created 1 v1', 'created 2 v1']);
    expect([...(w.snapshots.entries.get('carts')?.keys() ?? [])]).toEqual(['1', '2']);
    expect(w.runLog.runs[0]).toMatchObject({ kind: 'poll', rowsRead: 2, rowsWritten: 2, status: 'succeeded' });
    expect(w.runLog.runs[0]?.details).toMatchObject({ created: 2, updated: 0, deleted: 0, coldStart: 1 });
  });

  it('publishes CloudEvents with the entity ordering key and a deterministic id', async () => {
    const w1 = world();
    const w2 = world();
    await w1.cycle([[{ id: 7, n: 'a' }]]);
    await w2.cycle([[{ id: 7, n: 'a' }]]);
    const [m1] = w1.publisher.published;
    const [m2] = w2.publisher.published;
    expect(m1?.orderingKey).toBe('carts/7');
    expect(m1?.id).toBe(m2?.id);
    expect(m1?.attributes).toMatchObject({
      'ce-specversion': '1.0',
      'ce-subject': '7',
      'ce-cfsource': 'carts',
      'ce-id': m1?.id,
    });
    expect(JSON.parse(m1?.data.toString() ?? '')).toEqual({ id: 7, n: 'a' });
  });

  it('emits updates, deletes and re-creations with moving versions', async () => {
    const w = world();
    await w.cycle([
      [
        { id: 1, n: 'a' },
        { id: 2, n: 'b' },
      ],
    ]);
    await w.cycle([[{ id: 1, n: 'A' }]]);
    await w.cycle([
      [
        { id: 1, n: 'A' },
        { id: 2, n: 'back' },
      ],
    ]);
    expect(w.publisher.summary()).toEqual([
      'created 1 v1',
      'created 2 v1',
      'updated 1 v2',
      'deleted 2 v2',
      'created 2 v3',
    ]);
  });

  it('when a value flips A→B→A→B, gives four distinct event ids', async () => {
    const w = world();
    for (const n of ['A', 'B', 'A', 'B']) await w.cycle([[{ id: 1, n }]]);
    const ids = w.publisher.published.map((m) => m.id);
    expect(ids).toHaveLength(4);
    expect(new Set(ids).size).toBe(4);
  });

  it('a cycle with no change publishes nothing', async () => {
    const w = world();
    await w.cycle([[{ id: 1 }]]);
    const result = await w.cycle([[{ id: 1 }]]);
    expect(result).toMatchObject({ status: 'succeeded', published: 0, coldStart: false });
    expect(result.counts).toEqual({ created: 0, updated: 0, deleted: 0, unchanged: 1 });
  });

  it('when the process dies between publish and commit, the next cycle re-emits the same event ids', async () => {
    const w = world();
    await w.cycle([[{ id: 1, n: 'a' }]]);
    const crash = new Error('killed');
    const failed = await w.cycle([[{ id: 1, n: 'b' }]], {
      afterPublish: () => {
        throw crash;
      },
    });
    expect(failed.status).toBe('failed');
    const again = await w.cycle([[{ id: 1, n: 'b' }]]);
    expect(again.status).toBe('succeeded');
    const [, first, second] = w.publisher.published;
    expect(second?.id).toBe(first?.id);
    expect(w.snapshots.entries.get('carts')?.get('1')?.version).toBe(2);
  });

  it('a snapshot written with the first hash format is re-hashed silently: no event, new hashes committed', async () => {
    const w = world();
    const lease = await w.snapshots.acquireLease('carts', 'me', 60_000);
    if (lease === null) throw new Error('lease busy');
    const old = [
      { id: 1, n: 'a' },
      { id: 2, n: 'b' },
    ];
    await w.snapshots.commit(
      lease,
      old.map((r) => ({ entityId: String(r.id), hash: legacyHashRecord(r), version: 4, deleted: false })),
    );
    const result = await w.cycle([
      [
        { n: 'a', id: 1 },
        { id: 2, n: 'changed' },
      ],
    ]);
    expect(result.counts).toEqual({ created: 0, updated: 1, deleted: 0, unchanged: 1 });
    expect(w.publisher.published).toHaveLength(1);
    expect(w.snapshots.entries.get('carts')?.get('1')).toEqual({
      hash: hashRecord({ id: 1, n: 'a' }),
      version: 4,
      deleted: false,
    });
    expect(w.snapshots.entries.get('carts')?.get('2')?.version).toBe(5);
    const again = await w.cycle([
      [
        { id: 1, n: 'a' },
        { id: 2, n: 'changed' },
      ],
    ]);
    expect(again.published).toBe(0);
  });

  it('re-hashes a large first-format snapshot in groups, as large as publish groups', async () => {
    const w = world();
    const lease = await w.snapshots.acquireLease('carts', 'me', 60_000);
    if (lease === null) throw new Error('lease busy');
    const records = [1, 2, 3, 4, 5].map((id) => ({ id }));
    await w.snapshots.commit(
      lease,
      records.map((r) => ({ entityId: String(r.id), hash: legacyHashRecord(r), version: 1, deleted: false })),
    );
    const before = w.snapshots.commits.length;
    const result = await w.cycle([records], { publishBatchSize: 2 });
    expect(result.published).toBe(0);
    expect(w.snapshots.commits.slice(before).map((c) => c.updates.length)).toEqual([2, 2, 1]);
  });

  it('a pending event of the first hash format, API unchanged: repeated with its original id', async () => {
    const w = world();
    await w.cycle([[{ id: 1, n: 'a' }]]);
    const lease = await w.snapshots.acquireLease('carts', 'me', 60_000);
    if (lease === null) throw new Error('lease busy');
    const legacy = legacyHashRecord({ id: 1, n: 'b' });
    await w.snapshots.recordPending(lease, [{ entityId: '1', type: EventType.updated, hash: legacy, version: 2 }]);
    const result = await w.cycle([[{ id: 1, n: 'b' }]]);
    expect(result.published).toBe(1);
    expect(w.snapshots.entries.get('carts')?.get('1')).toEqual({ hash: legacy, version: 2, deleted: false });
    // The next cycle moves the entry to the current format without an event.
    expect((await w.cycle([[{ id: 1, n: 'b' }]])).published).toBe(0);
    expect(w.snapshots.entries.get('carts')?.get('1')?.hash).toBe(hashRecord({ id: 1, n: 'b' }));
  });

  it('commits only the entities whose events were acknowledged', async () => {
    const w = world();
    w.publisher.refuseKeys.add('carts/2');
    const result = await w.cycle([[{ id: 1 }, { id: 2 }, { id: 3 }]]);
    expect(result).toMatchObject({ status: 'failed', published: 2, publishFailed: 1 });
    expect(result.error).toContain('not acknowledged');
    expect([...(w.snapshots.entries.get('carts')?.keys() ?? [])].sort()).toEqual(['1', '3']);
    w.publisher.refuseKeys.clear();
    const retry = await w.cycle([[{ id: 1 }, { id: 2 }, { id: 3 }]]);
    expect(retry).toMatchObject({ status: 'succeeded', published: 1 });
    expect(w.publisher.summary()).toEqual(['created 1 v1', 'created 3 v1', 'created 2 v1']);
  });

  it('when the source fails part-way, emits nothing (a partial state would look like deletions)', async () => {
    const w = world();
    await w.cycle([[{ id: 1 }, { id: 2 }]]);
    const client = new FakeSourceClient([[{ id: 1 }], [{ id: 2 }]], {
      pages: 1,
      error: new Error('503 after retries'),
    });
    const result = await w.cycle(client);
    expect(result).toMatchObject({ status: 'failed', published: 0, error: '503 after retries' });
    expect(w.publisher.published).toHaveLength(2);
  });

  it('publishes full groups while the next pages are still being fetched', async () => {
    const w = world();
    const seenAtPage: number[] = [];
    const publisher = w.publisher;
    const client: SourceClient = {
      async *fetchPages() {
        for (let page = 0; page < 4; page++) {
          // Gives the group in flight time to reach the bus before this page is read.
          await new Promise((resolve) => setImmediate(resolve));
          seenAtPage.push(publisher.published.length);
          yield { records: [{ id: page * 2 + 1 }, { id: page * 2 + 2 }], bytes: 10 };
        }
      },
    };
    const result = await w.cycle(client, { publishBatchSize: 2 });
    expect(result).toMatchObject({ status: 'succeeded', published: 8 });
    // By the time the last page is read, the first groups are on the bus.
    expect(seenAtPage[0]).toBe(0);
    expect(seenAtPage[3]).toBeGreaterThanOrEqual(4);
    expect(w.snapshots.commits.map((c) => c.updates.length)).toEqual([2, 2, 2, 2]);
  });

  it('when the source fails after some groups went out, keeps them committed and emits no deletion', async () => {
    const w = world();
    await w.cycle([[{ id: 1 }, { id: 2 }, { id: 3 }]]);
    w.publisher.published.length = 0;
    const client = new FakeSourceClient(
      [
        [
          { id: 1, n: 'x' },
          { id: 2, n: 'x' },
        ],
        [{ id: 4 }],
      ],
      {
        pages: 1,
        error: new Error('503 after retries'),
      },
    );
    const result = await w.cycle(client, { publishBatchSize: 2 });
    expect(result).toMatchObject({ status: 'failed', published: 2, error: '503 after retries' });
    expect(w.publisher.summary()).toEqual(['updated 1 v2', 'updated 2 v2']);
    expect(w.snapshots.entries.get('carts')?.get('1')).toMatchObject({ version: 2 });
    // The next whole poll emits the deletion of 3 and the creation of 4, and nothing twice.
    await w.cycle(
      [
        [
          { id: 1, n: 'x' },
          { id: 2, n: 'x' },
        ],
        [{ id: 4 }],
      ],
      { publishBatchSize: 2 },
    );
    expect(w.publisher.summary()).toEqual(['updated 1 v2', 'updated 2 v2', 'created 4 v1', 'deleted 3 v2']);
  });

  it('counts records without an id and duplicate ids, and still publishes the rest', async () => {
    const w = world();
    const result = await w.cycle([[{ id: 1 }, { name: 'no id' }, { id: 1, dup: true }, 'text', { id: 2 }]]);
    expect(result).toMatchObject({ status: 'succeeded', records: 5, published: 2 });
    expect(result.skipped).toEqual({ notObject: 1, missingId: 1, duplicateId: 1 });
  });

  it('reads nested id fields', async () => {
    const w = world(source({ idField: 'data.id' }));
    await w.cycle([[{ data: { id: 'x' } }]]);
    expect(w.publisher.summary()).toEqual(['created x v1']);
  });

  it('with coldStart baseline, the first cycle records the state without events and later ones emit changes', async () => {
    const w = world(source({ coldStart: 'baseline' }));
    const first = await w.cycle([[{ id: 1, n: 'a' }, { id: 2 }]]);
    expect(first).toMatchObject({ status: 'succeeded', published: 0, coldStart: true });
    await w.cycle([[{ id: 1, n: 'b' }, { id: 2 }]]);
    expect(w.publisher.summary()).toEqual(['updated 1 v2']);
  });

  it('commits group by group, so a crash in a large cycle keeps what was acknowledged', async () => {
    const w = world();
    let groups = 0;
    const result = await w.cycle([[{ id: 1 }, { id: 2 }, { id: 3 }, { id: 4 }, { id: 5 }]], {
      publishBatchSize: 2,
      afterPublish: () => {
        groups += 1;
        if (groups === 3) throw new Error('killed');
      },
    });
    expect(result.status).toBe('failed');
    expect(w.snapshots.commits.map((c) => c.updates.length)).toEqual([2, 2]);
  });

  it('when stopped mid-publish, finishes the group in flight and leaves the rest for the next cycle', async () => {
    const w = world();
    const stop = new AbortController();
    const result = await w.cycle([[{ id: 1 }, { id: 2 }, { id: 3 }, { id: 4 }]], {
      publishBatchSize: 2,
      signal: stop.signal,
      afterPublish: () => stop.abort(),
    });
    expect(result).toMatchObject({ status: 'failed', published: 2, notAttempted: 2 });
    expect(w.snapshots.entries.get('carts')?.size).toBe(2);
  });

  it('when the lease was lost, does not commit', async () => {
    const w = world();
    const result = await w.cycle([[{ id: 1 }]], {
      afterPublish: () => {
        w.snapshots.leases.set('carts', { source: 'carts', holder: 'someone else', expiresAt: new Date(8.64e15) });
      },
    });
    expect(result).toMatchObject({ status: 'failed', errorCode: 'SNAPSHOT.LEASE_LOST' });
    expect(w.snapshots.initialized.has('carts')).toBe(false);
  });

  it('a cold start of an empty API marks the source initialized, so later records are creations', async () => {
    const w = world();
    const first = await w.cycle([[]]);
    expect(first).toMatchObject({ status: 'succeeded', coldStart: true });
    const second = await w.cycle([[{ id: 1 }]]);
    expect(second.coldStart).toBe(false);
  });

  describe('a crash between publish and commit, then an API that changed back or moved on', () => {
    const crash = {
      afterPublish: () => {
        throw new Error('killed after publish');
      },
    };

    /** What the warehouse's `_current` view would show: per entity, the highest version published. */
    function warehouseView(publisher: FakeEventPublisher): Record<string, unknown> {
      const latest = new Map<string, { version: number; type: string; data: unknown }>();
      for (const m of publisher.published) {
        const entity = m.attributes['ce-subject'] ?? '';
        const version = Number(m.attributes['ce-cfversion']);
        const type = (m.attributes['ce-type'] ?? '').split('.').pop() ?? '';
        const seen = latest.get(entity);
        if (seen === undefined || seen.version < version) {
          latest.set(entity, { version, type, data: type === 'deleted' ? null : JSON.parse(m.data.toString()) });
        }
      }
      return Object.fromEntries([...latest].filter(([, v]) => v.type !== 'deleted').map(([id, v]) => [id, v.data]));
    }

    it('an update published but not committed, then reverted: the revert is emitted above the lost version', async () => {
      const w = world();
      await w.cycle([[{ id: 1, n: 'A' }]]);
      expect(await w.cycle([[{ id: 1, n: 'B' }]], crash)).toMatchObject({ status: 'failed', published: 1 });

      const after = await w.cycle([[{ id: 1, n: 'A' }]]);

      expect(after).toMatchObject({ status: 'succeeded', published: 1 });
      expect(after.counts).toEqual({ created: 0, updated: 1, deleted: 0, unchanged: 0 });
      expect(w.publisher.summary()).toEqual(['created 1 v1', 'updated 1 v2', 'updated 1 v3']);
      expect(warehouseView(w.publisher)).toEqual({ '1': { id: 1, n: 'A' } });
      expect(w.snapshots.entries.get('carts')?.get('1')).toMatchObject({ version: 3, deleted: false });
      expect(w.snapshots.pending.get('carts')?.size).toBe(0);
    });

    it('a deletion published but not committed, then the entity back unchanged: it is created again', async () => {
      const w = world();
      await w.cycle([[{ id: 1 }, { id: 2, n: 'A' }]]);
      await w.cycle([[{ id: 1 }]], crash);

      await w.cycle([[{ id: 1 }, { id: 2, n: 'A' }]]);

      expect(w.publisher.summary()).toEqual(['created 1 v1', 'created 2 v1', 'deleted 2 v2', 'created 2 v3']);
      expect(warehouseView(w.publisher)).toEqual({ '1': { id: 1 }, '2': { id: 2, n: 'A' } });
      expect(w.snapshots.entries.get('carts')?.get('2')).toMatchObject({ version: 3, deleted: false });
    });

    it('a creation published but not committed, then the entity gone: it is deleted, not left as a phantom', async () => {
      const w = world();
      await w.cycle([[{ id: 1 }]]);
      await w.cycle([[{ id: 1 }, { id: 50, n: 'new' }]], crash);

      const after = await w.cycle([[{ id: 1 }]]);

      expect(after.counts).toEqual({ created: 0, updated: 0, deleted: 1, unchanged: 1 });
      expect(w.publisher.summary()).toEqual(['created 1 v1', 'created 50 v1', 'deleted 50 v2']);
      expect(warehouseView(w.publisher)).toEqual({ '1': { id: 1 } });
      expect(w.snapshots.entries.get('carts')?.get('50')).toEqual({ hash: '', version: 2, deleted: true });
    });

    it('a third state after the crash gets a version above the possibly landed one, never the same version', async () => {
      const w = world();
      await w.cycle([[{ id: 1, n: 'A' }]]);
      await w.cycle([[{ id: 1, n: 'B' }]], crash);

      await w.cycle([[{ id: 1, n: 'C' }]]);

      expect(w.publisher.summary()).toEqual(['created 1 v1', 'updated 1 v2', 'updated 1 v3']);
      expect(warehouseView(w.publisher)).toEqual({ '1': { id: 1, n: 'C' } });
    });

    it('two crashes in a row (the update, then its revert) and the API still reverted: the revert is repeated with its id', async () => {
      const w = world();
      await w.cycle([[{ id: 1, n: 'A' }]]);
      await w.cycle([[{ id: 1, n: 'B' }]], crash);
      await w.cycle([[{ id: 1, n: 'A' }]], crash);

      await w.cycle([[{ id: 1, n: 'A' }]]);

      const [, , revert, again] = w.publisher.published;
      expect(w.publisher.summary()).toEqual(['created 1 v1', 'updated 1 v2', 'updated 1 v3', 'updated 1 v3']);
      expect(again?.id).toBe(revert?.id);
      expect(w.snapshots.entries.get('carts')?.get('1')?.version).toBe(3);
    });

    it('events the bus refused stay pending: the next cycle repeats them, or supersedes them if the API went back', async () => {
      const w = world();
      await w.cycle([
        [
          { id: 1, n: 'A' },
          { id: 2, n: 'A' },
        ],
      ]);
      w.publisher.refuseKeys.add('carts/1');
      w.publisher.refuseKeys.add('carts/2');
      // A refused message may still have been delivered (a lost ack): treat it as possibly landed.
      await w.cycle([
        [
          { id: 1, n: 'B' },
          { id: 2, n: 'B' },
        ],
      ]);
      expect([...(w.snapshots.pending.get('carts')?.keys() ?? [])]).toEqual(['1', '2']);
      w.publisher.refuseKeys.clear();

      await w.cycle([
        [
          { id: 1, n: 'B' },
          { id: 2, n: 'A' },
        ],
      ]);

      expect(w.publisher.summary()).toEqual(['created 1 v1', 'created 2 v1', 'updated 1 v2', 'updated 2 v3']);
      expect(w.snapshots.pending.get('carts')?.size).toBe(0);
    });

    it('a cycle stopped before the group of a pending entity leaves that pending entry for the next cycle', async () => {
      const w = world();
      const carts = (n: Record<number, string>) => [[1, 2, 3, 4].map((id) => ({ id, n: n[id] ?? 'A' }))];
      await w.cycle(carts({}));
      // Group [3, 4] published, killed before its commit.
      await w.cycle(carts({ 3: 'B', 4: 'B' }), crash);
      const stop = new AbortController();
      const stopped = await w.cycle(carts({ 1: 'C', 2: 'C' }), {
        publishBatchSize: 2,
        signal: stop.signal,
        afterPublish: () => stop.abort(),
      });
      expect(stopped).toMatchObject({ published: 2, notAttempted: 2 });
      expect([...(w.snapshots.pending.get('carts')?.keys() ?? [])].sort()).toEqual(['3', '4']);

      await w.cycle(carts({ 1: 'C', 2: 'C' }));

      expect(w.publisher.summary().slice(-4)).toEqual(['updated 1 v2', 'updated 2 v2', 'updated 3 v3', 'updated 4 v3']);
      expect(warehouseView(w.publisher)).toEqual(
        Object.fromEntries(carts({ 1: 'C', 2: 'C' })[0]!.map((c) => [String(c.id), c])),
      );
    });

    it('a stale pending entry (its version already committed) emits nothing and is cleared', async () => {
      const w = world();
      await w.cycle([[{ id: 1, n: 'A' }]]);
      const lease = await w.snapshots.acquireLease('carts', 'me', 60_000);
      await w.snapshots.recordPending(lease!, [{ entityId: '1', type: EventType.created, hash: 'old', version: 1 }]);

      const result = await w.cycle([[{ id: 1, n: 'A' }]]);

      expect(result).toMatchObject({ status: 'succeeded', published: 0 });
      expect(w.snapshots.pending.get('carts')?.size).toBe(0);
    });

    it('records every group as pending before publishing it, and a group whose record is refused is not published', async () => {
      const w = world();
      const store = w.snapshots;
      const snapshots: PollCycleDeps['snapshots'] = {
        load: (name) => store.load(name),
        commit: (lease, updates) => store.commit(lease, updates),
        recordPending: (lease, pending) =>
          store.pendingRecords.length === 1
            ? Promise.reject(new AppError('SNAPSHOT.LEASE_LOST', 'lease lost'))
            : store.recordPending(lease, pending),
      };
      const published: string[][] = [];
      const result = await w.cycle([[{ id: 1 }, { id: 2 }, { id: 3 }]], {
        publishBatchSize: 2,
        snapshots,
        afterPublish: () => {
          published.push(w.publisher.summary());
        },
      });
      expect(store.pendingRecords.map((r) => r.pending.map((p) => `${p.type} ${p.entityId} v${p.version}`))).toEqual([
        ['created 1 v1', 'created 2 v1'],
      ]);
      expect(published).toEqual([['created 1 v1', 'created 2 v1']]);
      expect(result).toMatchObject({ status: 'failed', errorCode: 'SNAPSHOT.LEASE_LOST', published: 2 });
      expect(w.publisher.summary()).toEqual(['created 1 v1', 'created 2 v1']);
    });

    it('with coldStart baseline, a cold start that already published (a crashed emit cycle) is finished with events', async () => {
      const w = world(source({ coldStart: 'baseline' }));
      const lease = await w.snapshots.acquireLease('carts', 'me', 60_000);
      await w.snapshots.recordPending(lease!, [
        { entityId: '1', type: EventType.created, hash: hashRecord({ id: 1, n: 'B' }), version: 1 },
      ]);

      await w.cycle([[{ id: 1, n: 'A' }, { id: 2 }]]);

      // Entities with a pending event go after the others: their reconciliation needs the whole poll.
      expect(w.publisher.summary()).toEqual(['created 2 v1', 'created 1 v2']);
    });
  });

  describe('records the cycle cannot key', () => {
    const carts = (n: number) => Array.from({ length: n }, (_, i) => ({ id: i + 1, n: 'a' }));
    /** The 500 carts in pages of 100, with page 3 (positions 200-299) as `third` makes it. */
    const pagesWith = (third: (cart: { id: number; n: string }) => unknown) => {
      const all = carts(500);
      return [0, 1, 2, 3, 4].map((p) => all.slice(p * 100, p * 100 + 100).map((c) => (p === 2 ? third(c) : c)));
    };

    it('a page of 100 records without ids among 500 emits no deletion, warns with the count and positions, and is recorded in _runs', async () => {
      const log = captureLog();
      const w = world();
      await w.cycle([carts(500)]);
      w.publisher.published.length = 0;
      const pages = pagesWith((c) => ({ n: c.n }));
      pages[0]![0] = { id: 1, n: 'changed' };
      const result = await w.cycle(pages, { logger: log.logger });
      expect(result).toMatchObject({ status: 'succeeded', error: null, records: 500, deletionsSuppressed: 100 });
      expect(result.counts).toMatchObject({ updated: 1, deleted: 0 });
      expect(w.publisher.summary()).toEqual(['updated 1 v2']);
      const warning = log.lines.find((l) => l['message'] === 'poll records skipped');
      expect(warning).toMatchObject({
        severity: 'WARNING',
        unkeyed: 100,
        missingId: 100,
        deletionsSuppressed: 100,
        firstSkippedAt: Array.from({ length: 10 }, (_, i) => 200 + i),
      });
      expect(w.runLog.runs.at(-1)).toMatchObject({ status: 'succeeded', error: null });
      expect(w.runLog.runs.at(-1)?.details).toMatchObject({
        skippedMissingId: 100,
        deleted: 0,
        deletionsSuppressed: 100,
      });
      // The ids come back: nothing was deleted, so nothing is re-created.
      const back = await w.cycle([carts(500).map((c) => (c.id === 1 ? { id: 1, n: 'changed' } : c))]);
      expect(back).toMatchObject({ status: 'succeeded', published: 0, deletionsSuppressed: 0 });
    });

    it('duplicate ids that displace other records delete none of them', async () => {
      const w = world();
      await w.cycle([carts(500)]);
      w.publisher.published.length = 0;
      // Page 3 repeats the ids of page 1: carts 201-300 are in the answer, under ids the cycle has seen.
      const result = await w.cycle(pagesWith((c) => ({ id: c.id - 200, n: c.n })));
      expect(result).toMatchObject({ status: 'succeeded', published: 0, deletionsSuppressed: 100 });
      expect(result.skipped).toEqual({ notObject: 0, missingId: 0, duplicateId: 100 });
    });

    it('with onUnkeyedRecords: fail, the cycle fails with SOURCE.UNKEYED_RECORDS; its creations and updates stand', async () => {
      const w = world(source({ onUnkeyedRecords: 'fail' }));
      await w.cycle([carts(500)]);
      w.publisher.published.length = 0;
      const pages = pagesWith(() => 'not an object');
      pages[4]!.push({ id: 501, n: 'new' });
      const result = await w.cycle(pages);
      expect(result).toMatchObject({ status: 'failed', errorCode: 'SOURCE.UNKEYED_RECORDS', published: 1 });
      expect(result.error).toContain('100 record(s) could not be keyed by "id"');
      expect(result.error).toContain('first at positions 200, 201');
      expect(w.publisher.summary()).toEqual(['created 501 v1']);
      expect(w.runLog.runs.at(-1)).toMatchObject({ status: 'failed', rowsWritten: 1 });
      expect(w.runLog.runs.at(-1)?.details).toMatchObject({ skippedNotObject: 100, deletionsSuppressed: 100 });
    });

    it('takes strings and integers as ids, and not true, 1.5 or an integer JSON could not parse exactly', async () => {
      const w = world();
      const result = await w.cycle([[{ id: 7 }, { id: 'x' }, { id: true }, { id: 1.5 }, { id: 2 ** 60 }, { id: -0 }]]);
      expect(w.publisher.summary()).toEqual(['created 7 v1', 'created x v1', 'created 0 v1']);
      expect(result.skipped).toEqual({ notObject: 0, missingId: 3, duplicateId: 0 });
    });

    it('a cycle that keys every record again deletes what is gone', async () => {
      const w = world();
      await w.cycle([carts(500)]);
      await w.cycle(pagesWith((c) => ({ n: c.n })));
      w.publisher.published.length = 0;
      const result = await w.cycle([carts(450)]);
      expect(result).toMatchObject({ status: 'succeeded', published: 50, deletionsSuppressed: 0 });
      expect(result.counts.deleted).toBe(50);
    });

    it('the deletion guard still refuses a mass deletion from a fully keyed cycle', async () => {
      const w = world(source({ onUnkeyedRecords: 'fail' }));
      await w.cycle([carts(500)]);
      const refused = await w.cycle([carts(100)]);
      expect(refused).toMatchObject({ status: 'failed', errorCode: 'POLL.TOO_MANY_DELETIONS', published: 0 });
    });
  });

  describe('deletion guard', () => {
    const carts = (n: number) => Array.from({ length: n }, (_, i) => ({ id: i + 1 }));

    it('refuses a cycle that would delete more than maxDeletedShare of the live entities, and publishes nothing', async () => {
      const w = world();
      await w.cycle([carts(200)]);
      w.publisher.published.length = 0;
      const refused = await w.cycle([carts(50)]);
      expect(refused).toMatchObject({ status: 'failed', errorCode: 'POLL.TOO_MANY_DELETIONS', published: 0 });
      expect(refused.error).toContain('would delete 150 of 200 known entities (75.0%)');
      expect(refused.error).toContain('maxDeletedShare (0.5)');
      expect(w.publisher.published).toEqual([]);
      expect(w.runLog.runs.at(-1)).toMatchObject({ status: 'failed', rowsWritten: 0 });
      // The API recovers: the snapshot never forgot anything, so nothing is emitted.
      const recovered = await w.cycle([carts(200)]);
      expect(recovered).toMatchObject({ status: 'succeeded', published: 0 });
    });

    it('when deletions are refused, the creations and updates already published stand', async () => {
      const w = world();
      await w.cycle([carts(200)]);
      w.publisher.published.length = 0;
      const refused = await w.cycle([[...carts(50), { id: 500 }]], { publishBatchSize: 10 });
      expect(refused).toMatchObject({ status: 'failed', errorCode: 'POLL.TOO_MANY_DELETIONS', published: 1 });
      expect(refused.error).toContain('no deletion was published');
      expect(w.publisher.summary()).toEqual(['created 500 v1']);
    });

    it('lets deletions up to the share through, counting only live entities', async () => {
      const w = world();
      await w.cycle([carts(200)]);
      await w.cycle([carts(120)]); // 80 of 200 deleted: 40%
      w.publisher.published.length = 0;
      const result = await w.cycle([carts(60)]); // 60 of the 120 still alive: exactly 50%
      expect(result).toMatchObject({ status: 'succeeded', published: 60 });
      expect(result.counts.deleted).toBe(60);
    });

    it('with maxDeletedShare 1, or below the minimum entity count, emits every deletion', async () => {
      const off = world(source({ maxDeletedShare: 1 }));
      await off.cycle([carts(200)]);
      expect(await off.cycle([[]])).toMatchObject({ status: 'succeeded', published: 200 });

      const small = world();
      await small.cycle([carts(12)]);
      expect(await small.cycle([[]])).toMatchObject({ status: 'succeeded', published: 12 });
    });

    it('rejects a share outside (0, 1] in the config, naming the key', () => {
      const parsed = sourceSchema.safeParse({ ...source(), maxDeletedShare: 0 });
      expect(parsed.success).toBe(false);
      expect(JSON.stringify(parsed.error?.issues[0]?.path)).toBe('["maxDeletedShare"]');
    });
  });
});
