import {
  exitOf,
  sourceHealth,
  startGcpPipeline,
  waitFor,
  type GcpPipeline,
  type GcpPipelineOptions,
  type ServiceProcess,
  type SourceHealth,
} from './gcp-pipeline-support';

/*
 * The local e2e's scenario (local-pipeline.test.ts, crash-safety.test.ts) in gcp mode: the
 * poller's and the loader's Cloud Run entry points as processes, the Pub/Sub emulator pushing to
 * the loader, the snapshot in the Firestore emulator, the rows in the BigQuery emulator. The
 * poller polls on its own schedule (every 300 ms); the test edits the API, then waits until the
 * pipeline has settled (see `settled`) before it looks at BigQuery.
 */

/** `type entity vN` per change, in the order they were detected (as the local e2e lists them). */
async function changeList(p: GcpPipeline): Promise<string[]> {
  const rows = await p.query(
    `select distinct event_type, entity_id, version from ${p.table('carts_changes')} order by version, cast(entity_id as int64)`,
  );
  return rows.map(([type, entity, version]) => `${String(type)} ${String(entity)} v${String(version)}`);
}

/**
 * `_current` equals the API. The rows reach `_changes` a moment before the loader's compaction
 * (merge mode, inside the append) has applied them to `_current`, so this waits for the two to
 * agree, then compares every row.
 */
async function currentMatchesApi(p: GcpPipeline): Promise<void> {
  const carts = p.api.store.allCarts();
  let current: unknown[][] = [];
  const read = (): Promise<unknown[][]> =>
    p.query(`select entity_id, data from ${p.table('carts_current')} order by cast(entity_id as int64)`);
  const same = (): boolean =>
    JSON.stringify(current.map(([, data]) => JSON.parse(String(data)) as unknown)) === JSON.stringify(carts);
  await waitFor(
    async () => {
      current = await read();
      return same();
    },
    () => `carts_current to equal the API\n${p.loader.output()}`,
    30_000,
  ).catch(() => undefined);
  expect(current.map(([entity]) => entity)).toEqual(carts.map((c) => String(c.id)));
  expect(current.map(([, data]) => JSON.parse(String(data)) as unknown)).toEqual(carts);
}

/** Every (entity, version) has exactly one event id: a re-emitted change reused its id. */
async function expectOneEventIdPerChange(p: GcpPipeline): Promise<void> {
  const clashes = await p.query(
    `select entity_id, version, count(distinct event_id) from ${p.table('carts_changes')} group by 1, 2 having count(distinct event_id) > 1`,
  );
  expect(clashes).toEqual([]);
}

/** A number from the emulator's REST answer (INT64 comes as text, an empty aggregate as null). */
function count(rows: unknown[][]): number {
  return Number(rows[0]?.[0] ?? 0);
}

/**
 * Waits until everything the API shows now is in BigQuery:
 * 1. the poller finished a cycle that began after this call (two cycles on from now: the one in
 *    flight may have read the API before the test's edit) and found nothing to publish, so every
 *    change was published and acknowledged (its snapshot is committed only then);
 * 2. the events in `carts_changes` are as many as the poll cycles' audit rows (`_runs`, written
 *    by the poller before `/healthz` counts the cycle) say were published, plus `unaudited`:
 *    every published event was pushed to the loader and appended.
 * What is asserted afterwards then cannot miss a late row.
 *
 * `unaudited`: events that no audit row counts, because the poller that published them was
 * killed before writing one and its replacement did not publish them again under the same id.
 */
async function settled(p: GcpPipeline, poller: ServiceProcess, unaudited = 0): Promise<void> {
  const from = (await sourceHealth(poller, 'carts')).cycles;
  let health: SourceHealth | undefined;
  await waitFor(
    async () => {
      health = await sourceHealth(poller, 'carts');
      return health.cycles >= from + 2 && health.lastCycle?.status === 'succeeded' && health.lastCycle.published === 0;
    },
    () => `a poll cycle with nothing left to publish; /healthz: ${JSON.stringify(health)}\n${poller.output()}`,
  );
  let events = 0;
  let published = 0;
  await waitFor(
    async () => {
      published = count(
        await p.query(`select sum(rows_written) from ${p.table('_runs')} where source = 'carts' and kind = 'poll'`),
      );
      // Before the loader's first append the table does not exist yet.
      events = await p.query(`select count(distinct event_id) from ${p.table('carts_changes')}`).then(count, () => 0);
      return events === published + unaudited;
    },
    () => `BigQuery to hold every published event: ${events} of ${published} + ${unaudited}\n${p.loader.output()}`,
  );
}

/**
 * A poller killed by the failpoint right after its first publish group was acknowledged, before
 * its snapshot commit; `beforeRestart` may edit the API meanwhile; then a replacement, once the
 * dead one's lease has run out. Returns the
 * replacement once the pipeline settled, checked for what a crash must never cause: a lost change
 * (`_current` differs from the API) or a change with two event ids.
 */
async function crashThenRestart(
  p: GcpPipeline,
  options: { readonly beforeRestart?: () => void; readonly unaudited?: number } = {},
): Promise<ServiceProcess> {
  const crashing = await p.spawnPoller({ CHANGEFEED_FAILPOINT: 'poller.after-publish:kill' });
  expect(await exitOf(crashing)).toEqual({ code: null, signal: 'SIGKILL' });
  options.beforeRestart?.();
  const restarted = await p.startPoller();
  await settled(p, restarted, options.unaudited);
  await currentMatchesApi(p);
  await expectOneEventIdPerChange(p);
  return restarted;
}

describe('gcp pipeline, end to end on the emulators (poller → Pub/Sub push → loader → BigQuery)', () => {
  const running: GcpPipeline[] = [];
  async function pipeline(options: GcpPipelineOptions): Promise<GcpPipeline> {
    const started = await startGcpPipeline(options);
    running.push(started);
    return started;
  }
  afterEach(async () => {
    await Promise.all(running.splice(0).map((started) => started.close()));
  });

  it('backfills on cold start, then records creates, updates, deletes and re-creations exactly', async () => {
    const p = await pipeline({ carts: 12 });
    const poller = await p.startPoller();
    await settled(p, poller);
    const initial = Array.from({ length: 12 }, (_, i) => `created ${i + 1} v1`);
    expect(await changeList(p)).toEqual(initial);
    await currentMatchesApi(p);

    const { store } = p.api;
    store.putCart({ ...store.getCart(2), id: 2, note: 'changed' });
    store.deleteCart(3);
    store.putCart({ id: 100, items: [] });
    await settled(p, poller);
    await currentMatchesApi(p);

    store.putCart({ id: 3, items: ['back'] });
    await settled(p, poller);
    await currentMatchesApi(p);

    expect(await changeList(p)).toEqual([...initial, 'created 100 v1', 'updated 2 v2', 'deleted 3 v2', 'created 3 v3']);
    // One row per event; at-least-once delivery may add a redelivered copy (the same message id).
    const rows = await p.query(
      `select distinct version, event_type, data is null, source, event_id, delivery_attempt, message_id, publish_time is not null
       from ${p.table('carts_changes')} where entity_id = '3' order by version`,
    );
    expect(rows.map(([, type, deleted]) => [type, deleted])).toEqual([
      ['created', 'false'],
      ['deleted', 'true'],
      ['created', 'false'],
    ]);
    for (const [, , , source, eventId, deliveryAttempt, messageId, published] of rows) {
      expect(source).toBe('carts');
      expect(String(eventId)).toMatch(/^[0-9a-f]{32}$/);
      // The local bus says 1; the emulator's push envelope has no deliveryAttempt, so it is unknown.
      expect(deliveryAttempt).toBeNull();
      expect(String(messageId)).not.toBe('');
      expect(published).toBe('true');
    }
    expect(new Set(rows.map(([, , , , eventId]) => eventId)).size).toBe(3);

    expect(await poller.stop()).toEqual({ code: 0, signal: null });
    expect(poller.errorLines()).toEqual([]);
    expect(p.loader.errorLines()).toEqual([]);
  }, 240_000);

  it('a value that flips A→B→A→B over four cycles gives four distinct event ids and four rows', async () => {
    const p = await pipeline({ carts: 12 });
    const poller = await p.startPoller();
    await settled(p, poller);
    for (const note of ['A', 'B', 'A', 'B']) {
      p.api.store.putCart({ id: 5, note });
      await settled(p, poller);
    }
    const rows = await p.query(
      `select distinct event_id, version, json_value(data, '$.note') from ${p.table('carts_changes')}
       where entity_id = '5' and event_type = 'updated' order by version`,
    );
    expect(rows.map(([, version, note]) => [version, note])).toEqual([
      ['2', 'A'],
      ['3', 'B'],
      ['4', 'A'],
      ['5', 'B'],
    ]);
    expect(new Set(rows.map(([eventId]) => eventId)).size).toBe(4);
    await currentMatchesApi(p);
    expect(poller.errorLines()).toEqual([]);
    expect(p.loader.errorLines()).toEqual([]);
  }, 240_000);

  it('a poller killed (SIGKILL) after publishing and before committing its snapshot: the restarted one re-emits the same event ids and loses nothing', async () => {
    // Publish groups of 2, so the crash leaves one group on the bus and one never published; a
    // short lease, so the replacement does not wait a minute for the dead poller's lease.
    const p = await pipeline({ carts: 12, extraYaml: 'poller:\n  leaseTtl: 2s\n  publishBatchSize: 2\n' });
    const first = await p.startPoller();
    await settled(p, first);
    expect(await first.stop()).toEqual({ code: 0, signal: null });

    p.api.store.putCart({ id: 1, note: 'updated before the crash' });
    p.api.store.deleteCart(2);
    p.api.store.putCart({ id: 50, note: 'new' });
    const restarted = await crashThenRestart(p);
    const changes = await p.query(
      `select distinct event_type, entity_id, version from ${p.table('carts_changes')}
       where entity_id in ('1', '2', '50') order by entity_id, version`,
    );
    expect(changes).toEqual([
      ['created', '1', '1'],
      ['updated', '1', '2'],
      ['created', '2', '1'],
      ['deleted', '2', '2'],
      ['created', '50', '1'],
    ]);
    // The killed poller's group (two events) reached BigQuery, and so did the restarted poller's
    // re-emission of the same two event ids: two publishes, two message ids, one event each.
    const publishes = await p.query(
      `select event_id, count(distinct message_id) from ${p.table('carts_changes')}
       where concat(entity_id, ' v', cast(version as string)) in ('1 v2', '2 v2', '50 v1') group by 1`,
    );
    expect(publishes.map(([, messages]) => Number(messages)).sort()).toEqual([1, 2, 2]);
    expect(restarted.errorLines()).toEqual([]);
    expect(p.loader.errorLines()).toEqual([]);
  }, 240_000);

  it('a poller killed after publishing, then the API changed back before the restart: the restarted one supersedes what was published and the current view equals the API', async () => {
    const p = await pipeline({ carts: 12, extraYaml: 'poller:\n  leaseTtl: 2s\n  publishBatchSize: 5\n' });
    const first = await p.startPoller();
    await settled(p, first);
    expect(await first.stop()).toEqual({ code: 0, signal: null });
    const { store } = p.api;
    const cart = (id: number) => {
      const found = store.getCart(id);
      if (found === undefined) throw new Error(`test setup: cart ${id} is missing`);
      return found;
    };
    const [one, two, three] = [cart(1), cart(2), cart(3)];

    store.putCart({ ...one, note: 'B: published, never committed, then reverted' });
    store.deleteCart(2);
    store.putCart({ ...three, note: 'B: published, never committed' });
    store.putCart({ id: 50, note: 'created, published, then gone again' });
    // One publish group holds all four; the API then goes back to what the snapshot committed
    // (1, 2, 50), or on to a third state (3), and the killed poller's four events stay superseded.
    const restarted = await crashThenRestart(p, {
      beforeRestart: () => {
        store.putCart(one);
        store.putCart(two);
        store.deleteCart(50);
        store.putCart({ ...three, note: 'C' });
      },
      unaudited: 4,
    });

    const changes = await p.query(
      `select distinct event_type, entity_id, version, json_value(data, '$.note') from ${p.table('carts_changes')}
       where entity_id in ('1', '2', '3', '50') order by cast(entity_id as int64), version`,
    );
    expect(changes).toEqual([
      ['created', '1', '1', null],
      ['updated', '1', '2', 'B: published, never committed, then reverted'],
      ['updated', '1', '3', null],
      ['created', '2', '1', null],
      ['deleted', '2', '2', null],
      ['created', '2', '3', null],
      ['created', '3', '1', null],
      ['updated', '3', '2', 'B: published, never committed'],
      ['updated', '3', '3', 'C'],
      ['created', '50', '1', 'created, published, then gone again'],
      ['deleted', '50', '2', null],
    ]);
    const others = await p.query(
      `select count(*) from ${p.table('carts_changes')}
       where entity_id not in ('1', '2', '3', '50') and not (event_type = 'created' and version = 1)`,
    );
    expect(count(others)).toBe(0);
    expect(restarted.errorLines()).toEqual([]);
    expect(p.loader.errorLines()).toEqual([]);
  }, 240_000);

  it('a poller killed during its cold start: the restarted one completes the backfill with no event doubled', async () => {
    const p = await pipeline({ carts: 23, extraYaml: 'poller:\n  leaseTtl: 2s\n  publishBatchSize: 5\n' });
    const restarted = await crashThenRestart(p);
    expect(count(await p.query(`select count(distinct event_id) from ${p.table('carts_changes')}`))).toBe(23);
    expect(restarted.errorLines()).toEqual([]);
    expect(p.loader.errorLines()).toEqual([]);
  }, 240_000);
});
