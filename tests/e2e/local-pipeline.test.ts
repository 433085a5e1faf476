import { sandbox, type Sandbox } from './e2e-support';

/** `type entity vN` per change row, in the order they were detected. */
async function changeList(s: Sandbox): Promise<string[]> {
  const rows = await s.query(
    'select distinct event_type, entity_id, version from carts_changes order by version, cast(entity_id as integer)',
  );
  return rows.map((r) => `${String(r['event_type'])} ${String(r['entity_id'])} v${String(r['version'])}`);
}

async function currentMatchesApi(s: Sandbox): Promise<void> {
  const current = await s.query('select entity_id, data from carts_current order by cast(entity_id as integer)');
  const carts = s.api.store.allCarts();
  expect(current.map((r) => r['entity_id'])).toEqual(carts.map((c) => String(c.id)));
  expect(current.map((r) => r['data'])).toEqual(carts);
}

// Batched delivery is the default; per-event HTTP push (what Pub/Sub push does) stays a mode.
describe.each(['batch', 'push'] as const)(
  'local pipeline, end to end (demo API → poller → bus → loader → DuckDB), %s delivery',
  (delivery) => {
    let s: Sandbox;
    beforeEach(async () => {
      s = await sandbox({ carts: 12, delivery });
    });
    afterEach(async () => {
      await s.close();
    });

    it('run --once backfills, then later runs record creates, updates, deletes and re-creations exactly', async () => {
      const first = await s.cli(['run', '--config', s.configFile, '--data-dir', s.dataDir, '--once']);
      expect(first.stderr).toBe('');
      expect(first.code).toBe(0);
      expect(first.stdout).toContain('carts (stream, cold start): 12 records, 12 created');
      expect(first.stdout).toContain('bus: 12 delivered, 0 dead-lettered');
      await currentMatchesApi(s);

      const { store } = s.api;
      const cart2 = store.getCart(2);
      store.putCart({ ...cart2, id: 2, note: 'changed' });
      store.deleteCart(3);
      store.putCart({ id: 100, items: [] });
      const second = await s.cli(['run', '--config', s.configFile, '--data-dir', s.dataDir, '--once']);
      expect(second.code).toBe(0);
      expect(second.stdout).toContain('carts (stream): 12 records, 1 created, 1 updated, 1 deleted');
      await currentMatchesApi(s);

      store.putCart({ id: 3, items: ['back'] });
      const third = await s.cli(['run', '--config', s.configFile, '--data-dir', s.dataDir, '--once']);
      expect(third.code).toBe(0);
      await currentMatchesApi(s);

      const initial = Array.from({ length: 12 }, (_, i) => `created ${i + 1} v1`);
      expect(await changeList(s)).toEqual([
        ...initial,
        'created 100 v1',
        'updated 2 v2',
        'deleted 3 v2',
        'created 3 v3',
      ]);
      const rows = await s.query("select * from carts_changes where entity_id = '3' order by version");
      expect(rows.map((r) => [r['event_type'], r['data'] === null])).toEqual([
        ['created', false],
        ['deleted', true],
        ['created', false],
      ]);
      for (const row of rows) {
        expect(row).toMatchObject({ source: 'carts', delivery_attempt: 1 });
        expect(String(row['event_id'])).toMatch(/^[0-9a-f]{32}$/);
      }
    });

    it('a value that flips A→B→A→B over four cycles gives four distinct event ids and four rows', async () => {
      await s.cli(['run', '--config', s.configFile, '--data-dir', s.dataDir, '--once']);
      for (const note of ['A', 'B', 'A', 'B']) {
        s.api.store.putCart({ id: 5, note });
        const run = await s.cli(['run', '--config', s.configFile, '--data-dir', s.dataDir, '--once']);
        expect(run.code).toBe(0);
      }
      const rows = await s.query(
        "select event_id, version, data->>'note' as note from carts_changes where entity_id = '5' and event_type = 'updated' order by version",
      );
      expect(rows.map((r) => [r['version'], r['note']])).toEqual([
        [2, 'A'],
        [3, 'B'],
        [4, 'A'],
        [5, 'B'],
      ]);
      expect(new Set(rows.map((r) => r['event_id'])).size).toBe(4);
      await currentMatchesApi(s);
    });

    it('batch sources land as tables, and every cycle and batch run leaves an audit row', async () => {
      await s.cli(['run', '--config', s.configFile, '--data-dir', s.dataDir, '--once']);
      const users = await s.query('select count(*)::integer as n from users');
      expect(users).toEqual([{ n: s.api.store.users().length }]);
      const products = await s.query('select count(*)::integer as n from products');
      expect(products).toEqual([{ n: s.api.store.products().length }]);
      const runs = await s.query('select source, kind, status from _runs order by source');
      expect(runs).toEqual([
        { source: 'carts', kind: 'poll', status: 'succeeded' },
        { source: 'products', kind: 'batch', status: 'succeeded' },
        { source: 'users', kind: 'batch', status: 'succeeded' },
      ]);
    });

    it('changefeed query reads the warehouse when nothing runs', async () => {
      await s.cli(['run', '--config', s.configFile, '--data-dir', s.dataDir, '--once']);
      const out = await s.cli(['query', 'select count(*) as n from carts_current', '--data-dir', s.dataDir, '--json']);
      expect(out.code).toBe(0);
      expect(JSON.parse(out.stdout)).toEqual({ n: 12 });
    });

    it('when the source API fails, run --once says which source and exits 1, and nothing is emitted', async () => {
      await s.cli(['run', '--config', s.configFile, '--data-dir', s.dataDir, '--once']);
      s.api.store.deleteCart(1);
      s.api.faults.add({ path: '/carts', status: 500, count: 100 });
      const run = await s.cli(['run', '--config', s.configFile, '--data-dir', s.dataDir, '--once']);
      expect(run.code).toBe(1);
      expect(run.stdout).toMatch(/carts \(stream\): .*failed/);
      expect(await changeList(s)).not.toContain('deleted 1 v2');
      s.api.faults.clear();
      const again = await s.cli(['run', '--config', s.configFile, '--data-dir', s.dataDir, '--once']);
      expect(again.code).toBe(0);
      await currentMatchesApi(s);
    });
  },
);
