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
