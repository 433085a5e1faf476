import type { Logger } from '../../log';
import type { Clock } from '../../ports';
import { COMPACTION_OVERLAP_MS, PENDING_RETENTION_MARGIN_MS, PENDING_RETENTION_MS } from './bigquery-compaction-tables';
import {
  compactionStatements,
  inTransaction,
  watermarkSql,
  type CompactionWindow,
  type CurrentRefs,
} from './bigquery-current-sql';

/** Runs one GoogleSQL script and returns its (last statement's) rows as plain objects. */
export type RunSql = (sql: string) => Promise<Record<string, unknown>[]>;

/** What one compaction reads and the statements it runs, in order. */
export interface CompactionPlan {
  readonly table: string;
  readonly window: CompactionWindow;
  readonly statements: readonly string[];
}

/**
 * Merge mode's maintenance of `<table>_current`: reads the change rows pending since the last
 * watermark (less a safety overlap) and applies them with the version-guarded MERGEs of
 * `compactionStatements`, in one transaction. A first compaction, or one after the pending rows
 * may have expired, reads all of `_changes`. Runs of one table in this process are serialized;
 * runs in two processes at once are safe (each statement is idempotent and guarded), and when
 * BigQuery aborts one for a concurrent update, the next run redoes its work.
 */
export class MergeCompactor {
  private readonly running = new Map<string, Promise<unknown>>();

  constructor(
    private readonly runSql: RunSql,
    private readonly refsOf: (table: string) => CurrentRefs,
    private readonly clock: Clock,
    private readonly logger: Logger,
  ) {}

  /** The next compaction of `table`, without running it. `full`: read all of `_changes`. */
  async plan(table: string, options: { readonly full?: boolean } = {}): Promise<CompactionPlan> {
    const refs = this.refsOf(table);
    const window = options.full === true ? ({ kind: 'full' } as const) : await this.window(refs);
    return {
      table,
      window,
      statements: compactionStatements(refs, window, { tombstones: true, recordWatermark: true }),
    };
  }

  /** Compacts `table` now, after any run of it already under way in this process. */
  run(table: string, options: { readonly full?: boolean } = {}): Promise<CompactionPlan> {
    const previous = this.running.get(table) ?? Promise.resolve();
    const next = previous.then(
      () => this.runNow(table, options),
      () => this.runNow(table, options),
    );
    this.running.set(table, next);
    const forget = (): void => {
      if (this.running.get(table) === next) this.running.delete(table);
    };
    void next.then(forget, forget);
    return next;
  }

  private async runNow(table: string, options: { readonly full?: boolean }): Promise<CompactionPlan> {
    const startedMs = this.clock.now().getTime();
    const plan = await this.plan(table, options);
    await this.runSql(inTransaction(plan.statements));
    this.logger.debug('current compacted', {
      table,
      window: plan.window.kind,
      durationMs: this.clock.now().getTime() - startedMs,
    });
    return plan;
  }

  private async window(refs: CurrentRefs): Promise<CompactionWindow> {
    const usableMs = PENDING_RETENTION_MS - PENDING_RETENTION_MARGIN_MS;
    const [row] = await this.runSql(watermarkSql(refs, usableMs));
    const watermarkMs = row?.['watermark_ms'];
    if (typeof watermarkMs !== 'number') return { kind: 'full' };
    if (watermarkMs < this.clock.now().getTime() - usableMs) return { kind: 'full' };
    return { kind: 'since', afterMs: watermarkMs - COMPACTION_OVERLAP_MS };
  }
}
