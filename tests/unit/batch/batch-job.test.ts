import { sourceSchema, type SourceConfig } from '@changefeed/shared/config';
import { createSilentLogger } from '@changefeed/shared/log';
import { SourceError } from '@changefeed/shared/source';
import { runBatchJob } from '../../../services/batch/src/batch-job';
import {
  FakeClock,
  FakeReferenceLoader,
  FakeRunLog,
  FakeSourceClient,
  MemoryCursorStore,
  sequentialIds,
} from '../../support/source-fakes';

function source(name: string, mode: 'batch' | 'stream' = 'batch'): SourceConfig {
  return sourceSchema.parse({ name, mode, request: { url: `http://api.test/${name}` }, idField: 'id', table: name });
}

describe('runBatchJob', () => {
  it('runs every batch source in order, skips stream sources, and one failure does not stop the others', async () => {
    const loader = new FakeReferenceLoader();
    const runLog = new FakeRunLog();
    const clients: Record<string, () => FakeSourceClient> = {
      users: () => new FakeSourceClient([[{ id: 1 }]]),
      broken: () => new FakeSourceClient([], { pages: 0, error: new Error('source "broken": HTTP 500') }),
      products: () => new FakeSourceClient([[{ id: 1 }, { id: 2 }]]),
    };
    const created: string[] = [];
    const result = await runBatchJob(
      {
        loader,
        runLog,
        state: new MemoryCursorStore(),
        clock: new FakeClock(),
        logger: createSilentLogger(),
        createSourceClient: (s) => {
          created.push(s.name);
          const make = clients[s.name];
          if (make === undefined) throw new Error(`unexpected source ${s.name}`);
          return make();
        },
      },
      [source('users'), source('carts', 'stream'), source('broken'), source('products')],
      { newRunId: sequentialIds() },
    );
    expect(created).toEqual(['users', 'broken', 'products']);
    expect(result.failed).toBe(true);
    expect(result.results.map((r) => [r.source, r.status, r.rowsWritten, r.error])).toEqual([
      ['users', 'succeeded', 1, null],
      ['broken', 'failed', 0, 'source "broken": HTTP 500'],
      ['products', 'succeeded', 2, null],
    ]);
    expect(runLog.runs.map((r) => [r.runId, r.source, r.status])).toEqual([
      ['run-1', 'users', 'succeeded'],
      ['run-2', 'broken', 'failed'],
      ['run-3', 'products', 'succeeded'],
    ]);
    expect([...loader.tables.keys()]).toEqual(['users', 'products']);
  });

  it('a source whose client cannot be created (missing credential) fails alone, with an audit row', async () => {
    const runLog = new FakeRunLog();
    const result = await runBatchJob(
      {
        loader: new FakeReferenceLoader(),
        runLog,
        state: new MemoryCursorStore(),
        clock: new FakeClock(),
        logger: createSilentLogger(),
        createSourceClient: (s) => {
          if (s.name === 'users') {
            throw new SourceError(
              'SOURCE.MISSING_CREDENTIAL',
              'source "users": auth.tokenEnv names ... TOKEN, which is not set',
              {
                source: 'users',
              },
            );
          }
          return new FakeSourceClient([[{ id: 1 }]]);
        },
      },
      [source('users'), source('products')],
      { newRunId: sequentialIds() },
    );
    expect(result.failed).toBe(true);
    expect(result.results.map((r) => [r.source, r.status])).toEqual([
      ['users', 'failed'],
      ['products', 'succeeded'],
    ]);
    expect(runLog.runs[0]).toEqual({
      runId: 'run-1',
      source: 'users',
      kind: 'batch',
      startedAt: new Date('2024-06-01T00:00:00.000Z'),
      endedAt: new Date('2024-06-01T00:00:00.000Z'),
      rowsRead: 0,
      rowsWritten: 0,
      status: 'failed',
      error: 'source "users": auth.tokenEnv names ... TOKEN, which is not set',
      details: {},
    });
  });

  it('is not failed when every source succeeds, and does nothing without batch sources', async () => {
    const deps = {
      loader: new FakeReferenceLoader(),
      runLog: new FakeRunLog(),
      state: new MemoryCursorStore(),
      clock: new FakeClock(),
      logger: createSilentLogger(),
      createSourceClient: () => new FakeSourceClient([[{ id: 1 }]]),
    };
    expect((await runBatchJob(deps, [source('users')])).failed).toBe(false);
    expect(await runBatchJob(deps, [source('carts', 'stream')])).toEqual({ results: [], failed: false });
  });
});
