import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { DuckDbWarehouse } from '@changefeed/shared/adapters/local';
import { changefeed, expectExactlyTheApiState, jsonLines, sandbox, type Sandbox } from './e2e-support';

/**
 * `changefeed dlq` on the local bus, driven as an operator would: a change the warehouse cannot take
 * is dead-lettered, the cause is fixed, and the replay brings the warehouse exactly to the API's state.
 */
describe('changefeed dlq on the local bus', () => {
  let s: Sandbox;
  afterEach(async () => {
    await s.close();
  });

  async function warehouseStatement(sql: string): Promise<void> {
    await mkdir(s.dataDir, { recursive: true });
    const warehouse = await DuckDbWarehouse.open(path.join(s.dataDir, 'warehouse.duckdb'));
    try {
      await warehouse.query(sql);
    } finally {
      await warehouse.close();
    }
  }

  /** A run whose every cart event fails: `carts_changes` exists with a schema the loader cannot append to. */
  async function deadLetterEveryCart(): Promise<void> {
    await warehouseStatement('create table carts_changes (x integer)');
    const run = await s.cli(['run', '--config', s.configFile, '--data-dir', s.dataDir, '--once']);
    expect(run.stdout).toContain(`bus: 0 delivered, ${s.api.store.allCarts().length} dead-lettered`);
    expect(run.code).toBe(1);
  }

  /** The cause fixed: the stray table is gone, so the loader creates the right one. */
  async function fixTheWarehouse(): Promise<void> {
    await warehouseStatement('drop table carts_changes');
  }

  function dlq(args: readonly string[], extra: Parameters<Sandbox['cli']>[1] = {}) {
    return s.cli(['dlq', ...args, '--data-dir', s.dataDir], extra);
  }

  async function deadLetterEventIds(): Promise<string[]> {
    const listed = await dlq(['list', '--json', '--limit', '1000']);
    expect(listed.code).toBe(0);
    return jsonLines(listed.stdout).map((l) => String(l['eventId']));
  }

  async function deliver(): Promise<void> {
    const run = await s.cli(['run', '--config', s.configFile, '--data-dir', s.dataDir, '--once']);
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
  }

  /** Rows of `carts_changes` per event id. */
  async function changesPerEvent(): Promise<Map<string, number>> {
    const rows = await s.query('select event_id, count(*)::integer as n from carts_changes group by event_id');
    return new Map(rows.map((r) => [String(r['event_id']), Number(r['n'])]));
  }

  it('lists the dead letters with why they failed; once the cause is fixed, replay delivers each once and carts_current is exactly the API state', async () => {
    s = await sandbox({ carts: 12 });
    await deadLetterEveryCart();

    const table = await dlq(['list']);
    const json = await dlq(['list', '--json']);
    const peek = await dlq(['peek', '--filter', 'entity=3']);
    await fixTheWarehouse();
    const replay = await dlq(['replay']);
    const after = await dlq(['list']);
    await deliver();

    expect(table.code).toBe(0);
    expect(table.stdout).toContain('event id');
    expect(table.stdout).toContain('(12 rows)');
    const lines = jsonLines(json.stdout);
    expect(lines).toHaveLength(12);
    expect(lines[0]).toMatchObject({ type: 'created', source: 'carts', deliveryAttempts: 3, version: '1' });
    // The loader's own error, naming the table it could not write (batch delivery, in process).
    expect(String(lines[0]?.['lastError'])).toMatch(/appending \d+ rows to "carts_changes" failed/);
    expect(new Set(lines.map((l) => l['entity']))).toEqual(new Set(s.api.store.allCarts().map((c) => String(c.id))));
    expect(peek.stdout).toMatch(/^event [0-9a-f]{32} \(created carts\/3, version 1\)/);
    expect(peek.stdout).toContain('ordering key  carts/3');
    expect(peek.stdout).toContain('"id": 3');
    expect(replay.stderr).toBe('');
    expect(replay.code).toBe(0);
    expect(replay.stdout).toContain('replayed 12, skipped 0 (filtered out), failed 0');
    expect(replay.stdout).toContain('delivered when the pipeline next runs');
    expect(after.stdout).toContain('no dead letters in the local bus');
    await expectExactlyTheApiState(s);
    const perEvent = await changesPerEvent();
    expect([...perEvent.keys()].sort()).toEqual(lines.map((l) => String(l['eventId'])).sort());
    expect([...perEvent.values()].every((n) => n === 1)).toBe(true);
  });

  it('--dry-run shows what it would replay and changes nothing', async () => {
    s = await sandbox({ carts: 5 });
    await deadLetterEveryCart();
    await fixTheWarehouse();
    const before = await dlq(['list', '--json']);

    const dry = await dlq(['replay', '--dry-run']);
    const dryJson = await dlq(['replay', '--dry-run', '--json', '--filter', 'entity=2']);
    const run = await s.cli(['run', '--config', s.configFile, '--data-dir', s.dataDir, '--once']);

    expect(dry.code).toBe(0);
    expect(dry.stdout).toContain('(5 rows)');
    expect(dry.stdout).toContain('dry run: would replay 5 from the dead letters of');
    expect(dry.stdout).toContain('nothing was changed');
    const dryLines = jsonLines(dryJson.stdout);
    expect(dryLines).toHaveLength(2);
    expect(dryLines[0]).toMatchObject({ status: 'would-replay', entity: '2' });
    expect(dryLines[1]).toMatchObject({ summary: { dryRun: true, wouldReplay: 1, replayed: 0, skipped: 4 } });
    expect((await dlq(['list', '--json'])).stdout).toBe(before.stdout);
    expect(run.stdout).toContain('bus: 0 delivered, 0 dead-lettered');
    // Nothing reached the warehouse: not even the (fixed, so absent) carts_changes table was made again.
    expect(
      await s.query("select count(*)::integer as n from information_schema.tables where table_name = 'carts_changes'"),
    ).toEqual([{ n: 0 }]);
  });

  it('--filter replays only the matching dead letters and leaves the others', async () => {
    s = await sandbox({ carts: 8 });
    await deadLetterEveryCart();
    await fixTheWarehouse();

    const replay = await dlq([
      'replay',
      '--filter',
      'entity=3',
      '--filter',
      'entity=5',
      '--filter',
      'type=created',
      '--filter',
      'source=carts',
    ]);
    const left = await deadLetterEventIds();
    await deliver();

    expect(replay.code).toBe(0);
    expect(replay.stdout).toContain('replayed 2, skipped 6 (filtered out), failed 0');
    expect(left).toHaveLength(6);
    const current = await s.query('select entity_id from carts_current order by entity_id');
    expect(current).toEqual([{ entity_id: '3' }, { entity_id: '5' }]);
  });

  it('interrupted (Ctrl-C) after its first step, then run again: every message is replayed once, none lost', async () => {
    s = await sandbox({ carts: 12 });
    await deadLetterEveryCart();
    await fixTheWarehouse();
    const all = await deadLetterEventIds();
    const ctrlC = new AbortController();

    // --rate 4 makes steps of 4; Ctrl-C arrives while the first one is in flight.
    const interrupted = await dlq(['replay', '--rate', '4'], {
      signal: ctrlC.signal,
      afterReplayPublish: () => ctrlC.abort(new Error('SIGINT')),
    });
    const left = await deadLetterEventIds();
    const resumed = await dlq(['replay']);
    await deliver();

    expect(interrupted.code).toBe(1);
    expect(interrupted.stdout).toContain('replayed 4, skipped 0 (filtered out), failed 0');
    expect(interrupted.stdout).toContain('interrupted: 8 not replayed, still dead letters');
    expect(left).toEqual(all.slice(4));
    expect(resumed.code).toBe(0);
    expect(resumed.stdout).toContain('replayed 8, skipped 0 (filtered out), failed 0');
    await expectExactlyTheApiState(s);
    const perEvent = await changesPerEvent();
    expect([...perEvent.keys()].sort()).toEqual([...all].sort());
    expect([...perEvent.values()].every((n) => n === 1)).toBe(true);
  });

  it('killed (SIGKILL) after republishing a step and before removing it, then run again: the step is sent twice and the warehouse drops the duplicates by event id', async () => {
    s = await sandbox({ carts: 12 });
    await deadLetterEveryCart();
    await fixTheWarehouse();
    const all = await deadLetterEventIds();

    const killed = await changefeed(['dlq', 'replay', '--rate', '4', '--data-dir', s.dataDir], {
      env: { CHANGEFEED_FAILPOINT: 'dlq.after-republish:kill' },
    });
    const left = await deadLetterEventIds();
    const resumed = await dlq(['replay']);
    await deliver();

    expect(killed.signal).toBe('SIGKILL');
    expect(left).toEqual(all);
    expect(resumed.stdout).toContain('replayed 12, skipped 0 (filtered out), failed 0');
    await expectExactlyTheApiState(s);
    const perEvent = await changesPerEvent();
    expect(new Map([...perEvent].sort())).toEqual(new Map(all.map((id, i) => [id, i < 4 ? 2 : 1] as const).sort()));
  });
});
