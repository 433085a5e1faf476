export const RunKind = { poll: 'poll', batch: 'batch' } as const;
export type RunKind = (typeof RunKind)[keyof typeof RunKind];

export const RunStatus = { succeeded: 'succeeded', failed: 'failed' } as const;
export type RunStatus = (typeof RunStatus)[keyof typeof RunStatus];

/** One row of `_runs`: the audit of one poll cycle or one batch run. */
export interface RunRecord {
  readonly runId: string;
  readonly source: string;
  readonly kind: RunKind;
  readonly startedAt: Date;
  readonly endedAt: Date;
  readonly rowsRead: number;
  readonly rowsWritten: number;
  readonly status: RunStatus;
  readonly error: string | null;
  /** Kind-specific counts, e.g. created/updated/deleted/skipped for a poll cycle. */
  readonly details: Readonly<Record<string, number>>;
}

export interface RunLog {
  recordRun(run: RunRecord): Promise<void>;
}
