import type { BatchConsumer, DuckDbWarehouse, SqliteLocalBus } from '@changefeed/shared/adapters/local';
import { openBackend, type Backend, type LocalBackend } from '@changefeed/shared/backend';
import type { Config } from '@changefeed/shared/config';
import { listen, type ListeningServer } from '@changefeed/shared/http';
import type { Logger } from '@changefeed/shared/log';
import type { Clock } from '@changefeed/shared/ports';
import { createSourceClients, type Environment, type SourceClients } from '@changefeed/shared/source';
import type { BatchRunResult } from '@changefeed/batch';
import {
  buildLoaderApp,
  createBatchLoader,
  deliveryResults,
  payloadDeps,
  tableAllowlist,
  type BatchLoader,
  type LoaderApp,
} from '@changefeed/loader';
import { openPoller, type OpenedPoller, type Poller, type PollCycleResult } from '@changefeed/poller';
import { BatchScheduler } from './batch-scheduler';
import type { DataDirLayout } from '@changefeed/shared/backend';
import { runShutdownSteps, type ShutdownStep } from './shutdown-steps';

/** What the progress line shows, sampled from the running local pipeline. */
export interface ProgressSample {
  /** Monotonic ms. */
  readonly at: number;
  /** Events written to the warehouse since start. */
  readonly delivered: number;
  /** Events waiting on the bus (queue depth). */
  readonly pending: number;
  readonly deadLettered: number;
  /** Age of the oldest undelivered event, ms (0 when the queue is empty). */
  readonly lagMs: number;
  readonly cycles: number;
}

export { LOCAL_SUBSCRIPTION } from '@changefeed/shared/backend/local';

export interface LocalPipelineOptions {
  readonly config: Config;
  readonly layout: DataDirLayout;
  readonly env: Environment;
  readonly clock: Clock;
  readonly logger: Logger;
  /** Test seam: runs between a publish group's ack and its snapshot commit (see shared/config/failpoints.ts). */
  readonly afterPublish?: () => Promise<void> | void;
  /** Test seam: runs after a delivered batch is in the warehouse, before the bus records its acks. */
  readonly afterAppend?: () => Promise<void> | void;
}

export interface OnceSummary {
  readonly cycles: readonly PollCycleResult[];
  readonly batches: readonly BatchRunResult[];
  /** Events the loader wrote during this run. */
  readonly delivered: number;
  /** Messages the bus gave up on during this run. */
  readonly deadLettered: number;
  readonly failed: boolean;
}

/**
 * The whole pipeline in one process on embedded stand-ins: SQLite snapshot store, SQLite bus
 * pushing over HTTP to the real loader endpoint, DuckDB warehouse. Same services and code paths
 * as on Cloud Run; only the adapters differ.
 */
export class LocalPipeline {
  private stopping: Promise<void> | undefined;

  private constructor(
    private readonly backend: LocalBackend,
    readonly warehouse: DuckDbWarehouse,
    readonly bus: SqliteLocalBus,
    private readonly loader: LoaderApp,
    private readonly loaderServer: ListeningServer,
    private readonly opened: OpenedPoller,
    readonly batches: BatchScheduler,
    private readonly logger: Logger,
    private readonly clock: Clock,
    private readonly batchClients: SourceClients,
    /** Rows written by batch delivery (push delivery counts in the loader's own stats). */
    private readonly batchStats: { readonly written: number },
  ) {}

  get poller(): Poller {
    return this.opened.poller;
  }

  /**
   * Opens the stores and starts the loader and the bus. Fails before touching anything when a
   * source's credential variable is unset, and with a clear message when another process holds
   * the warehouse.
   */
  static async open(options: LocalPipelineOptions): Promise<LocalPipeline> {
    const { config, layout, logger, clock, env } = options;
    // Every source's client first: a missing credential fails here, before any file is touched.
    const sourceDeps = { env, clock, logger: logger.child({ component: 'source' }) };
    const streamClients = createSourceClients(
      config.sources.filter((s) => s.mode === 'stream'),
      sourceDeps,
    );
    let batchClients: SourceClients;
    try {
      batchClients = createSourceClients(
        config.sources.filter((s) => s.mode === 'batch'),
        sourceDeps,
      );
    } catch (e: unknown) {
      streamClients.close();
      throw e;
    }
    const closeClients = (): void => {
      streamClients.close();
      batchClients.close();
    };
    let backend: Backend;
    try {
      backend = await openBackend({ config, env, clock, logger, dataDir: layout.dir });
      if (backend.name !== 'local') throw new Error(`LocalPipeline runs on backend: local, not ${backend.name}`);
    } catch (e: unknown) {
      closeClients();
      throw e;
    }
    let loaderServer: ListeningServer | undefined;
    try {
      const warehouse = await backend.warehouse();
      const state = await backend.snapshots();
      const tables = tableAllowlist(config.sources);
      const payloads = { store: await backend.payloads(), setting: backend.payloadStoreSetting };
      const loader = buildLoaderApp({
        rowSink: warehouse,
        logger: logger.child({ component: 'loader' }),
        clock,
        config: config.loader,
        authenticate: backend.pushAuthenticator(),
        tables,
        payloads,
      });
      loaderServer = await listen(loader.app, { port: config.loader.port, host: config.loader.host });
      const batchLoader = createBatchLoader({
        sink: warehouse,
        clock,
        logger: logger.child({ component: 'loader' }),
        tables,
        ...payloadDeps(payloads),
      });
      const batchStats = { written: 0 };
      const bus = await backend.deliveringBus({
        pushEndpoint: `${loaderServer.url}/pubsub/push`,
        ...(config.bus.delivery === 'batch'
          ? { batches: consumeWith(batchLoader, batchStats, options.afterAppend) }
          : {}),
      });
      const opened = await openPoller(
        backend,
        config,
        { env, clock, logger: logger.child({ component: 'poller' }), sourceClients: streamClients.byName },
        { afterPublish: options.afterPublish },
      );
      const batches = new BatchScheduler(
        {
          loader: warehouse,
          runLog: warehouse,
          state,
          clock,
          logger: logger.child({ component: 'batch' }),
          sourceClients: batchClients.byName,
        },
        config.sources,
      );
      bus.start();
      logger.info('local pipeline open', {
        loader: loaderServer.url,
        warehouse: layout.warehouseFile,
        streamSources: opened.poller.sources.map((s) => s.name),
        batchSources: batches.batchSources.map((s) => s.name),
      });
      return new LocalPipeline(
        backend,
        warehouse,
        bus,
        loader,
        loaderServer,
        opened,
        batches,
        logger,
        clock,
        batchClients,
        batchStats,
      );
    } catch (e: unknown) {
      await loaderServer?.close({ force: true }).catch(() => undefined);
      await backend.close();
      closeClients();
      throw e;
    }
  }

  get loaderUrl(): string {
    return this.loaderServer.url;
  }

  /**
   * One poll cycle of every stream source and one run of every batch source, then waits until
   * the bus has delivered (or dead-lettered) everything.
   */
  async runOnce(options: { signal?: AbortSignal; leaseWaitMs: number }): Promise<OnceSummary> {
    const before = this.bus.stats();
    const [cycles, batches] = await Promise.all([
      this.poller.runOnce({ leaseWaitMs: options.leaseWaitMs, signal: options.signal }),
      this.batches.runOnce(options.signal),
    ]);
    await this.bus.waitUntilIdle(options.signal);
    const after = this.bus.stats();
    const deadLettered = after.deadLettered - before.deadLettered;
    const failed =
      cycles.some((c) => c.status === 'failed') || batches.some((b) => b.status === 'failed') || deadLettered > 0;
    return { cycles, batches, delivered: after.delivered - before.delivered, deadLettered, failed };
  }

  /** Starts the poll loops and the batch schedule; they run until `close()`. */
  startLoops(): void {
    this.poller.start();
    this.batches.start();
  }

  progress(at: number): ProgressSample {
    const bus = this.bus.stats();
    const oldest = bus.oldestPendingAt;
    return {
      at,
      delivered: this.loader.stats().written + this.batchStats.written,
      pending: bus.pending + bus.inFlight,
      deadLettered: bus.deadLettered,
      lagMs: oldest === null ? 0 : Math.max(0, this.clock.now().getTime() - oldest.getTime()),
      cycles: this.poller.statuses().reduce((n, s) => n + s.cycles, 0),
    };
  }

  /**
   * SIGTERM path: stop polling (the publish group in flight is finished and committed), stop
   * the bus (in-flight pushes settle and are recorded), flush the loader's group commits, then
   * close the stores. Idempotent.
   */
  close(): Promise<void> {
    this.stopping ??= this.shutdown();
    return this.stopping;
  }

  private async shutdown(): Promise<void> {
    const steps: ShutdownStep[] = [
      ['poller', () => this.opened.close()],
      ['batch', () => this.batches.stop()],
      ['bus', () => this.bus.stop()],
      ['loader', () => this.loader.close()],
      ['loader server', () => this.loaderServer.close()],
      // The bus store, the state store and the warehouse, in that order.
      ['backend', () => this.backend.close()],
      [
        'source clients',
        () => {
          this.batchClients.close();
          return Promise.resolve();
        },
      ],
    ];
    await runShutdownSteps(steps, this.logger);
    this.logger.info('local pipeline closed');
  }
}

/**
 * The bus's in-process consumer: the loader's batch core, its outcomes as the bus's results.
 * Written and rejected messages are stored (acked); failed ones are delivered again.
 */
function consumeWith(
  load: BatchLoader,
  stats: { written: number },
  afterAppend: (() => Promise<void> | void) | undefined,
): BatchConsumer {
  return async (messages) => {
    const outcomes = await load(messages);
    await afterAppend?.();
    stats.written += outcomes.filter((o) => o.kind === 'written').length;
    return deliveryResults(outcomes);
  };
}
