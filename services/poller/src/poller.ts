import type { SourceConfig } from '@changefeed/shared/config';
import { AppError, errorMessage } from '@changefeed/shared/errors';
import type { Logger } from '@changefeed/shared/log';
import { RunStatus, type Clock, type SnapshotStore, type SourceClient } from '@changefeed/shared/ports';
import { runPollCycle, type PollCycleDeps, type PollCycleResult } from './poll-cycle';
import { LEASE_LOST, SourceLease } from './source-lease';

export interface PollerDeps extends Omit<PollCycleDeps, 'sourceClient' | 'snapshots' | 'logger'> {
  readonly snapshots: SnapshotStore;
  /** One client per stream source, by source name, built (and credential-checked) at start-up. */
  readonly sourceClients: ReadonlyMap<string, SourceClient>;
  readonly logger: Logger;
  readonly clock: Clock;
}

export interface PollerOptions {
  /** Who this poller is in the lease table: host, process and a random part. */
  readonly holder: string;
  readonly leaseTtlMs: number;
  readonly publishBatchSize: number;
}

export interface SourceStatus {
  readonly source: string;
  readonly cycles: number;
  readonly failedCycles: number;
  readonly leased: boolean;
  readonly lastCycle: PollCycleResult | null;
}

export interface RunOnceOptions {
  /**
   * How long to wait for a source's lease when another holder has it: a poller that crashed
   * holds it until it expires, and `run --once` after a crash should wait that out, not fail.
   */
  readonly leaseWaitMs: number;
  readonly signal?: AbortSignal;
}

/**
 * Polls every stream source on its own interval, one loop per source, each holding the source's
 * lease while it runs. `stop()` lets the cycles in flight finish their current publish group,
 * then releases the leases so a replacement instance can take over at once.
 */
export class Poller {
  private readonly streamSources: readonly SourceConfig[];
  private readonly status = new Map<
    string,
    { cycles: number; failedCycles: number; leased: boolean; last: PollCycleResult | null }
  >();
  private readonly abort = new AbortController();
  private loops: Promise<void>[] = [];

  constructor(
    private readonly deps: PollerDeps,
    sources: readonly SourceConfig[],
    private readonly options: PollerOptions,
  ) {
    this.streamSources = sources.filter((s) => s.mode === 'stream');
    for (const source of this.streamSources) {
      if (!deps.sourceClients.has(source.name)) {
        throw new AppError('POLLER.NO_CLIENT', `no source client for stream source "${source.name}"`);
      }
      this.status.set(source.name, { cycles: 0, failedCycles: 0, leased: false, last: null });
    }
  }

  get sources(): readonly SourceConfig[] {
    return this.streamSources;
  }

  start(): void {
    if (this.loops.length > 0) return;
    this.loops = this.streamSources.map((source) => this.loop(source));
  }

  /** Stops every loop after its in-flight publish group, and releases the leases. */
  async stop(): Promise<void> {
    this.abort.abort(new AppError('POLLER.STOPPING', 'poller is stopping'));
    await Promise.all(this.loops);
    this.loops = [];
  }

  statuses(): SourceStatus[] {
    return this.streamSources.map((s) => {
      const st = this.status.get(s.name);
      return {
        source: s.name,
        cycles: st?.cycles ?? 0,
        failedCycles: st?.failedCycles ?? 0,
        leased: st?.leased ?? false,
        lastCycle: st?.last ?? null,
      };
    });
  }

  /** One cycle of every stream source, concurrently; the lease is taken and released around it. */
  async runOnce(options: RunOnceOptions): Promise<PollCycleResult[]> {
    return Promise.all(this.streamSources.map((source) => this.runOnceFor(source, options)));
  }

  private async runOnceFor(source: SourceConfig, options: RunOnceOptions): Promise<PollCycleResult> {
    const logger = this.deps.logger.child({ source: source.name });
    const deadline = this.deps.clock.now().getTime() + options.leaseWaitMs;
    let lease = await this.acquire(source);
    let warned = false;
    while (lease === null) {
      if (options.signal?.aborted === true || this.deps.clock.now().getTime() >= deadline) {
        throw new AppError(
          'POLLER.LEASE_BUSY',
          `source "${source.name}" is leased by another poller; gave up after ${Math.round(options.leaseWaitMs / 1000)} s (is another changefeed running on this data directory?)`,
        );
      }
      if (!warned) {
        logger.warn('source is leased by another poller; waiting for the lease to expire', {
          leaseWaitMs: options.leaseWaitMs,
        });
        warned = true;
      }
      await this.deps.clock.sleep(Math.min(1000, this.options.leaseTtlMs), options.signal);
      lease = await this.acquire(source);
    }
    try {
      return await this.cycle(source, lease, options.signal);
    } finally {
      await this.release(source, lease);
    }
  }

  private async loop(source: SourceConfig): Promise<void> {
    const logger = this.deps.logger.child({ source: source.name });
    const signal = this.abort.signal;
    let lease: SourceLease | null = null;
    while (!signal.aborted) {
      const startedAt = this.deps.clock.now().getTime();
      try {
        if (lease !== null) {
          await lease.renew();
        }
      } catch (e: unknown) {
        logger.warn('lost the lease on the source; another poller owns it now', { error: errorMessage(e) });
        lease = null;
        this.setLeased(source, false);
      }
      if (lease === null) {
        try {
          lease = await this.acquire(source);
        } catch (e: unknown) {
          logger.error('could not take the lease on the source', { error: e });
        }
        if (lease === null)
          logger.debug('source is leased by another poller', {
            pollIntervalMs: source.pollInterval.totalOf('millisecond'),
          });
      }
      if (lease !== null) {
        const result = await this.cycle(source, lease, signal);
        if (result.errorCode === LEASE_LOST) {
          lease = null;
          this.setLeased(source, false);
        }
      }
      const elapsed = this.deps.clock.now().getTime() - startedAt;
      try {
        await this.deps.clock.sleep(Math.max(0, source.pollInterval.totalOf('millisecond') - elapsed), signal);
      } catch {
        break;
      }
    }
    if (lease !== null) await this.release(source, lease);
  }

  private async acquire(source: SourceConfig): Promise<SourceLease | null> {
    const lease = await this.deps.snapshots.acquireLease(source.name, this.options.holder, this.options.leaseTtlMs);
    if (lease === null) return null;
    this.setLeased(source, true);
    return new SourceLease(this.deps.snapshots, lease, this.options.leaseTtlMs);
  }

  private async release(source: SourceConfig, lease: SourceLease): Promise<void> {
    try {
      await lease.release();
    } catch (e: unknown) {
      // It expires on its own; a replacement poller just waits a little longer.
      this.deps.logger.warn('could not release the lease', { source: source.name, error: errorMessage(e) });
    }
    this.setLeased(source, false);
  }

  private async cycle(
    source: SourceConfig,
    lease: SourceLease,
    signal: AbortSignal | undefined,
  ): Promise<PollCycleResult> {
    const client = this.deps.sourceClients.get(source.name) as SourceClient;
    const result = await runPollCycle({ ...this.deps, sourceClient: client }, source, lease, {
      publishBatchSize: this.options.publishBatchSize,
      signal,
    });
    const st = this.status.get(source.name);
    if (st !== undefined) {
      st.cycles += 1;
      if (result.status === RunStatus.failed) st.failedCycles += 1;
      st.last = result;
    }
    return result;
  }

  private setLeased(source: SourceConfig, leased: boolean): void {
    const st = this.status.get(source.name);
    if (st !== undefined) st.leased = leased;
  }
}
