import { RunKind, type RunRecord } from '@changefeed/shared/ports';
import { runAuditRow, writeRunAudit, type FinishedRun } from '@changefeed/shared/runs';
import { captureLog, FakeRunLog } from '../../support/source-fakes';

function finished(overrides: Partial<FinishedRun> = {}): FinishedRun {
  return {
    runId: 'run-1',
    source: 'products',
    kind: RunKind.batch,
    startedAt: new Date('2024-06-01T00:00:00.000Z'),
    endedAt: new Date('2024-06-01T00:00:02.000Z'),
    rowsRead: 5,
    rowsWritten: 4,
    error: null,
    details: { pages: 1, durationMs: 2000 },
    ...overrides,
  };
}

describe('run audit rows', () => {
  it('a run without an error is audited as succeeded, with everything it counted', () => {
    expect(runAuditRow(finished())).toEqual({
      runId: 'run-1',
      source: 'products',
      kind: 'batch',
      startedAt: new Date('2024-06-01T00:00:00.000Z'),
      endedAt: new Date('2024-06-01T00:00:02.000Z'),
      rowsRead: 5,
      rowsWritten: 4,
      status: 'succeeded',
      error: null,
      details: { pages: 1, durationMs: 2000 },
    });
  });

  it('a run with an error is failed whatever its counts say', () => {
    const row = runAuditRow(finished({ kind: RunKind.poll, error: '1 event(s) not acknowledged', rowsWritten: 4 }));
    expect([row.kind, row.status, row.error, row.rowsWritten]).toEqual([
      'poll',
      'failed',
      '1 event(s) not acknowledged',
      4,
    ]);
  });

  it('the row reaches the run log as built', async () => {
    const runLog = new FakeRunLog();
    const row = runAuditRow(finished());
    await writeRunAudit(runLog, captureLog().logger, row);
    expect(runLog.runs).toEqual<RunRecord[]>([row]);
  });

  it('a run log that refuses the row is logged by kind, and the caller goes on', async () => {
    const runLog = new FakeRunLog();
    runLog.failNext = new Error('audit table locked');
    const log = captureLog();

    await expect(writeRunAudit(runLog, log.logger, runAuditRow(finished({ kind: RunKind.poll })))).resolves.toBe(
      undefined,
    );

    expect(runLog.runs).toEqual([]);
    expect(log.lines).toEqual([
      expect.objectContaining({
        severity: 'ERROR',
        message: 'poll audit row not written',
        source: 'products',
        runId: 'run-1',
        error: expect.objectContaining({ message: 'audit table locked' }) as unknown,
      }),
    ]);
  });
});
