import { sourceSchema } from '@changefeed/shared/config';
import { createSilentLogger } from '@changefeed/shared/log';
import { createSourceClient, type HttpSourceClient } from '@changefeed/shared/source';
import { runBatchJob, type BatchJobDeps } from '../../services/batch/src';
import { startDemoApi, type RunningDemoApi } from '@changefeed/demo-api';
import { FakeClock, FakeReferenceLoader, FakeRunLog, MemoryCursorStore, sequentialIds } from '../support/source-fakes';

describe('batch job against the demo API over HTTP', () => {
  let demo: RunningDemoApi;
  const clients: HttpSourceClient[] = [];

  beforeAll(async () => {
    demo = await startDemoApi({
      port: 0,
      carts: 5,
      seed: 3,
      changesPerSecond: 0,
      clock: new FakeClock('2024-06-01T00:00:00.000Z'),
    });
  });
  afterAll(async () => {
    for (const c of clients) c.close();
    await demo.close();
  });

  it('replaces users in full and merges only the products changed since the stored cursor', async () => {
    const sources = [
      sourceSchema.parse({
        name: 'users',
        mode: 'batch',
        request: { url: `${demo.url}/users`, recordsPath: 'users' },
        idField: 'id',
        table: 'users',
      }),
      sourceSchema.parse({
        name: 'products',
        mode: 'batch',
        request: { url: `${demo.url}/products` },
        idField: 'id',
        table: 'products',
        incremental: { cursorField: 'updatedAt', cursorParam: 'updatedSince' },
      }),
    ];
    const clock = new FakeClock();
    const loader = new FakeReferenceLoader();
    const state = new MemoryCursorStore();
    const deps: BatchJobDeps = {
      loader,
      runLog: new FakeRunLog(),
      state,
      clock,
      logger: createSilentLogger(),
      createSourceClient: (s) => {
        const c = createSourceClient(s, { env: {}, clock, logger: createSilentLogger() });
        clients.push(c);
        return c;
      },
    };

    const first = await runBatchJob(deps, sources, { newRunId: sequentialIds() });
    expect(first.failed).toBe(false);
    expect(first.results.map((r) => [r.source, r.rowsRead, r.rowsWritten])).toEqual([
      ['users', 10, 10],
      ['products', 20, 20],
    ]);
    expect(state.cursors.get('products')).toBe('2024-01-01T20:00:00.000Z');

    const put = await fetch(`${demo.url}/products/3`, {
      method: 'PUT',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ price: 1.5 }),
    });
    expect(put.status).toBe(200);

    const second = await runBatchJob(deps, sources, { newRunId: sequentialIds('second') });
    expect(second.results.map((r) => [r.source, r.rowsRead, r.rowsWritten, r.cursorBefore, r.cursorAfter])).toEqual([
      ['users', 10, 10, undefined, undefined],
      ['products', 1, 1, '2024-01-01T20:00:00.000Z', '2024-06-01T00:00:00.000Z'],
    ]);
    const products = loader.tables.get('products') ?? [];
    expect(products).toHaveLength(20);
    expect(products.find((p) => p['id'] === 3)).toMatchObject({ price: 1.5, updatedAt: '2024-06-01T00:00:00.000Z' });
  });
});
