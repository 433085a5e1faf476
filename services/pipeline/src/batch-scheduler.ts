import type { SourceConfig } from '@changefeed/shared/config';
import { errorMessage } from '@changefeed/shared/errors';
import type { Logger } from '@changefeed/shared/log';
import type { Clock, SourceClient } from '@changefeed/shared/ports';
import { runBatchSource, type BatchRunDeps, type BatchRunResult } from '@changefeed/batch';

export interface BatchSchedulerDeps extends Omit<BatchRunDeps, 'sourceClient'> {
  readonly sourceClients: ReadonlyMap<string, SourceClient>;
  readonly clock: Clock;
  readonly logger: Logger;
}

/**
 * Local mode's stand-in for Cloud Scheduler triggering the batch job: each `mode: batch` source
 * runs once at start and then every `pollInterval`. Runs of one source never overlap.
 */
export class BatchScheduler {
  private readonly abort = new AbortController();
  private loops: Promise<void>[] = [];
  private runs = 0;
  private failedRuns = 0;

  constructor(
    private readonly deps: BatchSchedulerDeps,
    private readonly sources: readonly SourceConfig[],
  ) {}

  get batchSources(): readonly SourceConfig[] {
    return this.sources.filter((s) => s.mode === 'batch');
  }

  /** One run of every batch source, one after the other. */
  async runOnce(signal?: AbortSignal): Promise<BatchRunResult[]> {
    const results: BatchRunResult[] = [];
    for (const source of this.batchSources) {
      if (signal?.aborted === true) break;
      results.push(await this.run(source, signal));
    }
    return results;
  }

  start(): void {
    if (this.loops.length > 0) return;
    this.loops = this.batchSources.map((source) => this.loop(source));
  }

  async stop(): Promise<void> {
    this.abort.abort();
    await Promise.all(this.loops);
    this.loops = [];
  }

  stats(): { runs: number; failedRuns: number } {
    return { runs: this.runs, failedRuns: this.failedRuns };
  }

  private async loop(source: SourceConfig): Promise<void> {
    const signal = this.abort.signal;
    while (!signal.aborted) {
      try {
        await this.run(source, signal);
      } catch (e: unknown) {
        // runBatchSource reports failures in its result; anything thrown is a bug worth a line,
        // not a reason to stop loading the other tables.
        this.deps.logger.error('batch run crashed', { source: source.name, error: errorMessage(e) });
      }
      try {
        await this.deps.clock.sleep(source.pollInterval.totalOf('millisecond'), signal);
      } catch {
        break;
      }
    }
  }

  private async run(source: SourceConfig, signal: AbortSignal | undefined): Promise<BatchRunResult> {
    const client = this.deps.sourceClients.get(source.name);
    if (client === undefined) throw new Error(`no source client for batch source "${source.name}"`);
    const result = await runBatchSource({ ...this.deps, sourceClient: client }, source, { signal });
    this.runs += 1;
    if (result.status === 'failed') this.failedRuns += 1;
    return result;
  }
}
