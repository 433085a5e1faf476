import { changefeed, expectExactlyTheApiState, sandbox, type Sandbox } from './e2e-support';

/** Every (entity, version) has exactly one event id: a re-emitted change reused its id. */
async function expectOneEventIdPerChange(s: Sandbox): Promise<void> {
  const clashes = await s.query(
    'select entity_id, version, count(distinct event_id)::integer as ids from carts_changes group by 1, 2 having count(distinct event_id) > 1',
  );
  expect(clashes).toEqual([]);
}

describe('crash safety of the real process', () => {
  let s: Sandbox;
  afterEach(async () => {
    await s.close();
  });

  it('killed (SIGKILL) after publishing and before committing its snapshot, the next run re-emits the same event ids and loses nothing', async () => {
    s = await sandbox({ carts: 12, extraYaml: 'poller:\n  leaseTtl: 1s\n  publishBatchSize: 5\n' });
    const args = ['run', '--config', s.configFile, '--data-dir', s.dataDir, '--once'];
    const first = await changefeed(args);
    expect(first.stderr).toBe('');
    expect(first.code).toBe(0);

    s.api.store.putCart({ id: 1, note: 'updated before the crash' });
    s.api.store.deleteCart(2);
    s.api.store.putCart({ id: 50, note: 'new' });
    const crashed = await changefeed(args, { env: { CHANGEFEED_FAILPOINT: 'poller.after-publish:kill' } });
    expect(crashed.signal).toBe('SIGKILL');

    const after = await changefeed(args);
    expect(after.stderr).toMatch(/^(.*leased by another poller.*\n)?$/);
    expect(after.code).toBe(0);
    expect(after.stdout).toContain('1 created, 1 updated, 1 deleted');

    await expectExactlyTheApiState(s);
    await expectOneEventIdPerChange(s);
    const changes = await s.query(
      "select event_type, entity_id, version from carts_changes where entity_id in ('1', '2', '50') group by all order by entity_id, version",
    );
    expect(changes).toEqual([
      { event_type: 'created', entity_id: '1', version: 1 },
      { event_type: 'updated', entity_id: '1', version: 2 },
      { event_type: 'created', entity_id: '2', version: 1 },
      { event_type: 'deleted', entity_id: '2', version: 2 },
      { event_type: 'created', entity_id: '50', version: 1 },
    ]);
  });

  it('killed after publishing, then the API changed back before the next run: the next run supersedes what was published and the current view equals the API', async () => {
    s = await sandbox({ carts: 12, extraYaml: 'poller:\n  leaseTtl: 1s\n  publishBatchSize: 5\n' });
    const args = ['run', '--config', s.configFile, '--data-dir', s.dataDir, '--once'];
    expect((await changefeed(args)).code).toBe(0);
    const cart = (id: number) => {
      const found = s.api.store.getCart(id);
      if (found === undefined) throw new Error(`test setup: cart ${id} is missing`);
      return found;
    };
    const [one, two, three] = [cart(1), cart(2), cart(3)];

    s.api.store.putCart({ ...one, note: 'B: published, never committed, then reverted' });
    s.api.store.deleteCart(2);
    s.api.store.putCart({ ...three, note: 'B: published, never committed' });
    s.api.store.putCart({ id: 50, note: 'created, published, then gone again' });
    const crashed = await changefeed(args, { env: { CHANGEFEED_FAILPOINT: 'poller.after-publish:kill' } });
    expect(crashed.signal).toBe('SIGKILL');
    // Before the next run the API goes back to what the snapshot committed (1, 2, 50), or on to a third state (3).
    s.api.store.putCart(one);
    s.api.store.putCart(two);
    s.api.store.deleteCart(50);
    s.api.store.putCart({ ...three, note: 'C' });

    const after = await changefeed(args);
    expect(after.stderr).toMatch(/^(.*leased by another poller.*\n)?$/);
    expect(after.code).toBe(0);
    expect(after.stdout).toContain('1 created, 2 updated, 1 deleted');

    await expectExactlyTheApiState(s);
    await expectOneEventIdPerChange(s);
    // Every change row is explained: the killed run's events did land (the bus had acknowledged them),
    // and each is superseded by a higher version; the other carts have only their creation.
    const changes = await s.query(
      "select event_type, entity_id, version, data->>'note' as note from carts_changes where entity_id in ('1', '2', '3', '50') group by all order by entity_id, version",
    );
    expect(changes).toEqual([
      { event_type: 'created', entity_id: '1', version: 1, note: null },
      { event_type: 'updated', entity_id: '1', version: 2, note: 'B: published, never committed, then reverted' },
      { event_type: 'updated', entity_id: '1', version: 3, note: null },
      { event_type: 'created', entity_id: '2', version: 1, note: null },
      { event_type: 'deleted', entity_id: '2', version: 2, note: null },
      { event_type: 'created', entity_id: '2', version: 3, note: null },
      { event_type: 'created', entity_id: '3', version: 1, note: null },
      { event_type: 'updated', entity_id: '3', version: 2, note: 'B: published, never committed' },
      { event_type: 'updated', entity_id: '3', version: 3, note: 'C' },
      { event_type: 'created', entity_id: '50', version: 1, note: 'created, published, then gone again' },
      { event_type: 'deleted', entity_id: '50', version: 2, note: null },
    ]);
    const others = await s.query(
      "select count(*)::integer as n from carts_changes where entity_id not in ('1', '2', '3', '50') and not (event_type = 'created' and version = 1)",
    );
    expect(others).toEqual([{ n: 0 }]);
  });

  it('killed during its cold start, the next run completes the backfill with no event doubled in the current view', async () => {
    s = await sandbox({ carts: 23, extraYaml: 'poller:\n  leaseTtl: 1s\n  publishBatchSize: 5\n' });
    const args = ['run', '--config', s.configFile, '--data-dir', s.dataDir, '--once'];
    const crashed = await changefeed(args, { env: { CHANGEFEED_FAILPOINT: 'poller.after-publish:kill' } });
    expect(crashed.signal).toBe('SIGKILL');
    const after = await changefeed(args);
    expect(after.code).toBe(0);
    await expectExactlyTheApiState(s);
    await expectOneEventIdPerChange(s);
    const count = await s.query('select count(distinct event_id)::integer as n from carts_changes');
    expect(count).toEqual([{ n: 23 }]);
  });

  it('killed after a delivered batch reached the warehouse and before the bus recorded its acks: redelivered, counted once', async () => {
    s = await sandbox({ carts: 23, extraYaml: 'poller:\n  leaseTtl: 1s\n' });
    const args = ['run', '--config', s.configFile, '--data-dir', s.dataDir, '--once'];
    const crashed = await changefeed(args, { env: { CHANGEFEED_FAILPOINT: 'loader.after-append:kill' } });
    expect(crashed.signal).toBe('SIGKILL');
    // The batch is durable, and the bus still holds it.
    const landed = await s.query('select count(*)::integer as n from carts_changes');
    expect(landed[0]?.['n']).toBeGreaterThan(0);

    const after = await changefeed(args);
    expect(after.code).toBe(0);
    await expectExactlyTheApiState(s);
    await expectOneEventIdPerChange(s);
    // Every event once in _current; the redelivered batch's rows are in _changes twice (the
    // bus keeps attempts of deliveries in flight in memory only, so both say attempt 1).
    expect(await s.query('select count(distinct event_id)::integer as n from carts_changes')).toEqual([{ n: 23 }]);
    const twice = await s.query(
      'select count(*)::integer as n from (select event_id from carts_changes group by event_id having count(*) = 2)',
    );
    expect(twice).toEqual(landed);
  });

  it('on SIGTERM while running, finishes in-flight work and exits 0; the next run finds everything consistent', async () => {
    s = await sandbox({ carts: 2000, extraYaml: 'poller:\n  publishBatchSize: 100\n' });
    let sent = false;
    const run = await changefeed(['run', '--config', s.configFile, '--data-dir', s.dataDir], {
      onStdout: (text, kill) => {
        if (!sent && text.includes('changefeed running')) {
          sent = true;
          setTimeout(() => kill('SIGTERM'), 300);
        }
      },
    });
    const errors = run.stderr.split('\n').filter((l) => l.includes('"severity":"ERROR"'));
    expect(errors).toEqual([]);
    expect(run.code).toBe(0);
    expect(run.stdout).toContain('stopping: finishing in-flight work');

    const after = await changefeed(['run', '--config', s.configFile, '--data-dir', s.dataDir, '--once']);
    expect(after.code).toBe(0);
    await expectExactlyTheApiState(s);
    await expectOneEventIdPerChange(s);
  });
});
