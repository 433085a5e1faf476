import { sourceSchema, type SourceConfig } from '@changefeed/shared/config';
import { createSilentLogger } from '@changefeed/shared/log';
import { runBatchSource, type BatchRunDeps } from '../../../services/batch/src/run-batch';
import {
  FakeClock,
  FakeReferenceLoader,
  FakeRunLog,
  FakeSourceClient,
  MemoryCursorStore,
  captureLog,
  sequentialIds,
} from '../../support/source-fakes';

function source(overrides: Record<string, unknown> = {}): SourceConfig {
  return sourceSchema.parse({
    name: 'products',
    mode: 'batch',
    request: { url: 'http://api.test/products' },
    idField: 'id',
    table: 'products',
    ...overrides,
  });
}

const incremental = { incremental: { cursorField: 'updatedAt', cursorParam: 'updatedSince' } };

function deps(
  client: FakeSourceClient,
  parts: Partial<BatchRunDeps> = {},
): BatchRunDeps & {
  loader: FakeReferenceLoader;
  runLog: FakeRunLog;
  state: MemoryCursorStore;
  clock: FakeClock;
} {
  return {
    sourceClient: client,
    loader: new FakeReferenceLoader(),
    runLog: new FakeRunLog(),
    state: new MemoryCursorStore(),
    clock: new FakeClock(),
    logger: createSilentLogger(),
    ...parts,
  } as BatchRunDeps & { loader: FakeReferenceLoader; runLog: FakeRunLog; state: MemoryCursorStore; clock: FakeClock };
}

describe('runBatchSource, full mode', () => {
  it('fetches every page and replaces the table with all records', async () => {
    const d = deps(new FakeSourceClient([[{ id: 1 }, { id: 2 }], [{ id: 3 }]]));
    d.loader.tables.set('products', [{ id: 99 }]);
    const result = await runBatchSource(d, source(), { newRunId: sequentialIds() });
    expect(d.loader.tables.get('products')).toEqual([{ id: 1 }, { id: 2 }, { id: 3 }]);
    expect(d.loader.calls).toEqual([{ op: 'replace', table: 'products', count: 3 }]);
    expect(result).toEqual({
      runId: 'run-1',
      source: 'products',
      table: 'products',
      mode: 'full',
      write: 'replace',
      status: 'succeeded',
      rowsRead: 3,
      rowsWritten: 3,
      skipped: { notObject: 0, missingId: 0, duplicateId: 0 },
      pages: 2,
      cursorBefore: undefined,
      cursorAfter: undefined,
      durationMs: 0,
      error: null,
    });
  });

  it('writes an audit row with counts', async () => {
    const page = [{ id: 1 }, { name: 'no id' }, 'text', { id: 1 }, { id: 2 }];
    const d = deps(new FakeSourceClient([page]));
    await runBatchSource(d, source(), { newRunId: sequentialIds() });
    expect(d.runLog.runs).toEqual([
      {
        runId: 'run-1',
        source: 'products',
        kind: 'batch',
        startedAt: new Date('2024-06-01T00:00:00.000Z'),
        endedAt: new Date('2024-06-01T00:00:00.000Z'),
        rowsRead: 5,
        rowsWritten: 2,
        status: 'succeeded',
        error: null,
        details: {
          pages: 1,
          bytes: JSON.stringify(page).length,
          skippedNotObject: 1,
          skippedMissingId: 1,
          skippedDuplicateId: 1,
          mergedInsteadOfReplaced: 1,
          durationMs: 0,
        },
      },
    ]);
  });

  it('counts and logs records without an id instead of loading or dropping them silently', async () => {
    const log = captureLog();
    const d = deps(new FakeSourceClient([[{ id: 1 }, { id: null }, { id: '' }, { sku: 'x' }]]), { logger: log.logger });
    const result = await runBatchSource(d, source(), { newRunId: sequentialIds() });
    expect(result.skipped).toEqual({ notObject: 0, missingId: 3, duplicateId: 0 });
    expect(d.loader.tables.get('products')).toEqual([{ id: 1 }]);
    const warning = log.lines.find((l) => l['message'] === 'batch records skipped');
    expect(warning).toMatchObject({ severity: 'WARNING', source: 'products', missingId: 3, firstSkippedAt: [1, 2, 3] });
  });

  it('a full refresh with records it cannot key merges the rest instead of replacing: no row is deleted', async () => {
    const log = captureLog();
    const d = deps(
      new FakeSourceClient([[{ id: 1, v: 'new' }, { v: 'no id' }, { id: true }, { id: 1.5 }, { id: 3 }]]),
      {
        logger: log.logger,
      },
    );
    d.loader.tables.set('products', [{ id: 1, v: 'old' }, { id: 2 }]);
    const result = await runBatchSource(d, source(), { newRunId: sequentialIds() });
    expect(result).toMatchObject({ status: 'succeeded', write: 'merge', rowsWritten: 2 });
    expect(result.skipped).toEqual({ notObject: 0, missingId: 3, duplicateId: 0 });
    expect(d.loader.calls).toEqual([{ op: 'merge', table: 'products', count: 2, keyField: 'id' }]);
    expect(d.loader.tables.get('products')).toEqual([{ id: 1, v: 'new' }, { id: 2 }, { id: 3 }]);
    expect(log.lines.find((l) => l['message'] === 'batch records skipped')).toMatchObject({
      severity: 'WARNING',
      unkeyed: 3,
      firstSkippedAt: [1, 2, 3],
      write: 'merge',
    });
    expect(d.runLog.runs[0]?.details).toMatchObject({ skippedMissingId: 3, mergedInsteadOfReplaced: 1 });
  });

  it('with onUnkeyedRecords: fail, a run with records it cannot key fails and writes nothing', async () => {
    const d = deps(new FakeSourceClient([[{ id: 1 }, { id: 1 }]]));
    d.loader.tables.set('products', [{ id: 99 }]);
    const result = await runBatchSource(d, source({ onUnkeyedRecords: 'fail' }), { newRunId: sequentialIds() });
    expect(result).toMatchObject({ status: 'failed', write: 'none', rowsWritten: 0 });
    expect(result.error).toContain('1 record(s) could not be keyed by "id"');
    expect(result.error).toContain('nothing was written to "products"');
    expect(d.loader.calls).toEqual([]);
    expect(d.loader.tables.get('products')).toEqual([{ id: 99 }]);
    expect(d.runLog.runs[0]).toMatchObject({ status: 'failed', rowsRead: 2, rowsWritten: 0 });
  });

  it('uses a nested idField', async () => {
    const d = deps(new FakeSourceClient([[{ data: { id: 'a' } }, { data: {} }]]));
    const result = await runBatchSource(d, source({ idField: 'data.id' }), { newRunId: sequentialIds() });
    expect(result.rowsWritten).toBe(1);
    expect(result.skipped.missingId).toBe(1);
  });

  it('a fetch failure leaves the table alone and is audited as failed', async () => {
    const d = deps(
      new FakeSourceClient([[{ id: 1 }], [{ id: 2 }]], { pages: 1, error: new Error('source "products": boom') }),
    );
    d.loader.tables.set('products', [{ id: 99 }]);
    const result = await runBatchSource(d, source(), { newRunId: sequentialIds() });
    expect(result.status).toBe('failed');
    expect(result.error).toBe('source "products": boom');
    expect(result.rowsWritten).toBe(0);
    expect(d.loader.calls).toEqual([]);
    expect(d.loader.tables.get('products')).toEqual([{ id: 99 }]);
    expect(d.runLog.runs.map((r) => [r.status, r.error, r.rowsRead, r.rowsWritten])).toEqual([
      ['failed', 'source "products": boom', 0, 0],
    ]);
  });

  it('a loader failure is audited as failed with the records read', async () => {
    const d = deps(new FakeSourceClient([[{ id: 1 }, { id: 2 }]]));
    d.loader.failNext = new Error('warehouse unavailable');
    const result = await runBatchSource(d, source(), { newRunId: sequentialIds() });
    expect([result.status, result.error, result.rowsRead, result.rowsWritten]).toEqual([
      'failed',
      'warehouse unavailable',
      2,
      0,
    ]);
    expect(d.runLog.runs[0]?.status).toBe('failed');
  });

  it('an audit failure is logged and does not change the result', async () => {
    const log = captureLog();
    const d = deps(new FakeSourceClient([[{ id: 1 }]]), { logger: log.logger });
    d.runLog.failNext = new Error('audit table locked');
    const result = await runBatchSource(d, source(), { newRunId: sequentialIds() });
    expect(result.status).toBe('succeeded');
    expect(log.lines.find((l) => l['message'] === 'batch audit row not written')).toMatchObject({
      severity: 'ERROR',
      runId: 'run-1',
      error: { message: 'audit table locked' },
    });
  });

  it('logs counts and duration at the end', async () => {
    const log = captureLog();
    const d = deps(new FakeSourceClient([[{ id: 1 }]]), { logger: log.logger });
    await runBatchSource(d, source(), { newRunId: sequentialIds() });
    expect(log.lines.find((l) => l['message'] === 'batch run succeeded')).toMatchObject({
      severity: 'INFO',
      source: 'products',
      runId: 'run-1',
      rowsRead: 1,
      rowsWritten: 1,
      pages: 1,
      durationMs: 0,
    });
  });
});

describe('runBatchSource, incremental mode', () => {
  it('first run: no cursor sent, records merged, cursor set to the largest value', async () => {
    const page = [
      { id: 1, updatedAt: '2024-01-01T03:00:00.000Z' },
      { id: 2, updatedAt: '2024-01-01T05:00:00.000Z' },
      { id: 3, updatedAt: '2024-01-01T04:00:00.000Z' },
    ];
    const client = new FakeSourceClient([page]);
    const d = deps(client);
    const result = await runBatchSource(d, source(incremental), { newRunId: sequentialIds() });
    expect(client.calls.map((c) => c.query)).toEqual([undefined]);
    expect(d.loader.calls).toEqual([{ op: 'merge', table: 'products', count: 3, keyField: 'id' }]);
    expect(d.state.writes).toEqual([{ source: 'products', cursor: '2024-01-01T05:00:00.000Z' }]);
    expect([result.mode, result.cursorBefore, result.cursorAfter]).toEqual([
      'incremental',
      undefined,
      '2024-01-01T05:00:00.000Z',
    ]);
    expect(d.runLog.runs[0]?.details).toEqual({
      pages: 1,
      bytes: JSON.stringify(page).length,
      skippedNotObject: 0,
      skippedMissingId: 0,
      skippedDuplicateId: 0,
      durationMs: 0,
      missingCursor: 0,
    });
  });

  it('next run: sends the stored cursor as cursorParam and advances it', async () => {
    const client = new FakeSourceClient([[{ id: 2, updatedAt: '2024-01-02T00:00:00.000Z' }]]);
    const d = deps(client);
    d.state.cursors.set('products', '2024-01-01T05:00:00.000Z');
    d.loader.tables.set('products', [
      { id: 1, updatedAt: 'a' },
      { id: 2, updatedAt: 'b' },
    ]);
    await runBatchSource(d, source(incremental), { newRunId: sequentialIds() });
    expect(client.calls.map((c) => c.query)).toEqual([{ updatedSince: '2024-01-01T05:00:00.000Z' }]);
    expect(d.loader.tables.get('products')).toEqual([
      { id: 1, updatedAt: 'a' },
      { id: 2, updatedAt: '2024-01-02T00:00:00.000Z' },
    ]);
    expect(d.state.cursors.get('products')).toBe('2024-01-02T00:00:00.000Z');
  });

  it('does NOT advance the cursor when the merge fails', async () => {
    const d = deps(new FakeSourceClient([[{ id: 2, updatedAt: '2024-01-02T00:00:00.000Z' }]]));
    d.state.cursors.set('products', '2024-01-01T05:00:00.000Z');
    d.loader.failNext = new Error('merge failed: disk full');
    const result = await runBatchSource(d, source(incremental), { newRunId: sequentialIds() });
    expect(result.status).toBe('failed');
    expect(result.cursorAfter).toBe('2024-01-01T05:00:00.000Z');
    expect(d.state.writes).toEqual([]);
    expect(d.state.cursors.get('products')).toBe('2024-01-01T05:00:00.000Z');
    expect(d.runLog.runs.map((r) => [r.status, r.error])).toEqual([['failed', 'merge failed: disk full']]);
  });

  it('an empty answer keeps the cursor', async () => {
    const d = deps(new FakeSourceClient([[]]));
    d.state.cursors.set('products', '2024-01-01T05:00:00.000Z');
    const result = await runBatchSource(d, source(incremental), { newRunId: sequentialIds() });
    expect([result.status, result.rowsWritten, result.cursorAfter]).toEqual([
      'succeeded',
      0,
      '2024-01-01T05:00:00.000Z',
    ]);
    expect(d.state.writes).toEqual([]);
  });

  it('never moves the cursor back when the API returns older records', async () => {
    const d = deps(new FakeSourceClient([[{ id: 1, updatedAt: '2023-12-31T00:00:00.000Z' }]]));
    d.state.cursors.set('products', '2024-01-01T05:00:00.000Z');
    await runBatchSource(d, source(incremental), { newRunId: sequentialIds() });
    expect(d.state.writes).toEqual([]);
  });
});
