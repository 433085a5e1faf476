import { randomUUID } from 'node:crypto';
import type { RunLog, RunRecord } from '@changefeed/shared/ports';

/** How the suite opens a run log and reads `_runs` back, in the log's own dialect. */
export interface RunLogHarness<L extends RunLog> {
  open(): L | Promise<L>;
  close(log: L): Promise<void>;
  /** The `_runs` rows whose run_id is one of `runIds`, every column, in no particular order. */
  runs(log: L, runIds: readonly string[]): Promise<Record<string, unknown>[]>;
}

/** A run record with a run id no other test (or other run of this suite) uses. */
export function runRecord(overrides: Partial<RunRecord> = {}): RunRecord {
  return {
    runId: `run-${randomUUID()}`,
    source: 'carts',
    kind: 'poll',
    startedAt: new Date('2024-06-01T00:00:00.000Z'),
    endedAt: new Date('2024-06-01T00:00:01.500Z'),
    rowsRead: 10,
    rowsWritten: 7,
    status: 'succeeded',
    error: null,
    details: {},
    ...overrides,
  };
}

/** The `_runs` row a record becomes (the columns of RUNS_TABLE in shared/warehouse/tables.ts). */
function asRow(run: RunRecord): Record<string, unknown> {
  return {
    run_id: run.runId,
    source: run.source,
    kind: run.kind,
    started_at: run.startedAt.toISOString(),
    ended_at: run.endedAt.toISOString(),
    rows_read: run.rowsRead,
    rows_written: run.rowsWritten,
    status: run.status,
    error: run.error,
    details: run.details,
  };
}

const byRunId = (a: Record<string, unknown>, b: Record<string, unknown>): number =>
  String(a['run_id']).localeCompare(String(b['run_id']));

/**
 * What every RunLog promises (shared/ports/run-log.ts): each recorded run is a `_runs` row that
 * can be queried with all its fields, failures included, and recording adds a row, never
 * replaces one. Run ids are unique per test, so a shared warehouse works.
 */
export function runLogContract<L extends RunLog>(name: string, harness: RunLogHarness<L>): void {
  describe(`RunLog contract: ${name}`, () => {
    let log: L;

    beforeEach(async () => {
      log = await harness.open();
    });

    afterEach(() => harness.close(log));

    const stored = async (...runs: RunRecord[]): Promise<Record<string, unknown>[]> =>
      (
        await harness.runs(
          log,
          runs.map((r) => r.runId),
        )
      ).sort(byRunId);

    it('a succeeded poll cycle is a row with every field, error NULL and details {}', async () => {
      const run = runRecord();
      await log.recordRun(run);
      expect(await stored(run)).toEqual([asRow(run)]);
    });

    it('a failed run keeps its error and its counts', async () => {
      const run = runRecord({
        status: 'failed',
        error: 'source answered 503',
        rowsWritten: 0,
        details: { created: 1, updated: 2, deleted: 0 },
      });
      await log.recordRun(run);
      expect(await stored(run)).toEqual([asRow(run)]);
    });

    it('a batch run is recorded as kind batch', async () => {
      const run = runRecord({ kind: 'batch', source: 'products', details: { pages: 3 } });
      await log.recordRun(run);
      expect(await stored(run)).toEqual([asRow(run)]);
    });

    it('an error text keeps its quotes, newlines and non-ASCII characters', async () => {
      const run = runRecord({ status: 'failed', error: `it said "no" and 'never'\nline two: Zürich ✓` });
      await log.recordRun(run);
      expect((await stored(run))[0]?.['error']).toBe(run.error);
    });

    it('counts beyond 32 bits and millisecond times come back exactly', async () => {
      const run = runRecord({
        startedAt: new Date('2024-06-01T23:59:59.999Z'),
        endedAt: new Date('2024-06-02T00:00:00.001Z'),
        rowsRead: 5_000_000_000,
        rowsWritten: 4_999_999_999,
        details: { skipped: 3_000_000_000 },
      });
      await log.recordRun(run);
      expect(await stored(run)).toEqual([asRow(run)]);
    });

    it('every run recorded is a row of its own; nothing is replaced', async () => {
      const first = runRecord({ source: 'carts' });
      const second = runRecord({ source: 'carts', startedAt: new Date('2024-06-01T00:01:00.000Z') });
      await log.recordRun(first);
      await log.recordRun(second);
      expect(await stored(first, second)).toEqual([asRow(first), asRow(second)].sort(byRunId));
    });

    it('runs recorded concurrently all land', async () => {
      const runs = Array.from({ length: 8 }, (_, i) => runRecord({ source: `s${i}` }));
      await Promise.all(runs.map((r) => log.recordRun(r)));
      expect(await stored(...runs)).toEqual(runs.map(asRow).sort(byRunId));
    });
  });
}
