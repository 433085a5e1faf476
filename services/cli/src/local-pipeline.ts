import { randomBytes } from 'node:crypto';
import { mkdir } from 'node:fs/promises';
import { hostname } from 'node:os';
import {
  DuckDbWarehouse,
  SqliteLocalBus,
  SqliteSnapshotStore,
  type BatchConsumer,
} from '@changefeed/shared/adapters/local';
import { DEFAULTS, type Config } from '@changefeed/shared/config';
import { listen, type ListeningServer } from '@changefeed/shared/http';
import type { Logger } from '@changefeed/shared/log';
import type { Clock } from '@changefeed/shared/ports';
import { createSourceClient, type Environment, type HttpSourceClient } from '@changefeed/shared/source';
import type { BatchRunResult } from '@changefeed/batch';
import {
  buildLoaderApp,
  createBatchLoader,
  deliveryResults,
  type BatchLoader,
  type LoaderApp,
} from '@changefeed/loader';
import { Poller, type PollCycleResult } from '@changefeed/poller';
import { BatchScheduler } from './batch-scheduler';
import type { DataDirLayout } from './data-dir';
import type { ProgressSample } from './progress-line';
import { runShutdownSteps, type ShutdownStep } from './shutdown-steps';

/** The name the local bus puts in push envelopes, shaped like a Pub/Sub subscription path. */
export const LOCAL_SUBSCRIPTION = 'projects/local/subscriptions/changefeed-loader';

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
    readonly warehouse: DuckDbWarehouse,
    private readonly state: SqliteSnapshotStore,
    readonly bus: SqliteLocalBus,
    private readonly loader: LoaderApp,
    private readonly loaderServer: ListeningServer,
    readonly poller: Poller,
    readonly batches: BatchScheduler,
    private readonly logger: Logger,
    private readonly clock: Clock,
    private readonly sourceClients: ReadonlyMap<string, HttpSourceClient>,
    /** Rows written by batch delivery (push delivery counts in the loader's own stats). */
    private readonly batchStats: { readonly written: number },
  ) {}

  /**
   * Opens the stores and starts the loader and the bus. Fails before touching anything when a
   * source's credential variable is unset, and with a clear message when another process holds
   * the warehouse.
   */
  static async open(options: LocalPipelineOptions): Promise<LocalPipeline> {
    const { config, layout, logger, clock } = options;
    const sourceClients = new Map<string, HttpSourceClient>();
    for (const source of config.sources) {
      sourceClients.set(
        source.name,
        createSourceClient(source, { env: options.env, clock, logger: logger.child({ component: 'source' }) }),
      );
    }
    await mkdir(layout.dir, { recursive: true });
    const warehouse = await DuckDbWarehouse.open(layout.warehouseFile, {
      logger: logger.child({ component: 'warehouse' }),
    });
    const opened: { close(): Promise<void> }[] = [warehouse];
    try {
      const state = SqliteSnapshotStore.open(layout.stateFile, { clock });
      opened.push(state);
      const loader = buildLoaderApp({
        rowSink: warehouse,
        logger: logger.child({ component: 'loader' }),
        clock,
        config: config.loader,
      });
      const loaderServer = await listen(loader.app, { port: config.loader.port, host: config.loader.host });
      opened.push({ close: () => loaderServer.close({ force: true }) });
      const batchLoader = createBatchLoader({
        sink: warehouse,
        clock,
        logger: logger.child({ component: 'loader' }),
      });
      const batchStats = { written: 0 };
      const bus = SqliteLocalBus.open({
        file: layout.busFile,
        pushEndpoint: `${loaderServer.url}/pubsub/push`,
        ...(config.bus.delivery === 'batch'
          ? {
              batches: {
                consume: consumeWith(batchLoader, batchStats, options.afterAppend),
                batchSize: config.bus.batchSize,
              },
            }
          : {}),
        subscription: LOCAL_SUBSCRIPTION,
        maxDeliveryAttempts: config.bus.maxDeliveryAttempts,
        minBackoffMs: config.bus.minBackoff.totalOf('millisecond'),
        maxBackoffMs: config.bus.maxBackoff.totalOf('millisecond'),
        concurrency: config.bus.concurrency,
        ackDeadlineMs: config.bus.ackDeadline.totalOf('millisecond'),
        idlePollMs: DEFAULTS.bus.idlePoll.totalOf('millisecond'),
        clock,
        logger: logger.child({ component: 'bus' }),
      });
      opened.push(bus);
      const poller = new Poller(
        {
          snapshots: state,
          publisher: bus,
          runLog: warehouse,
          clock,
          logger: logger.child({ component: 'poller' }),
          sourceClients,
          afterPublish: options.afterPublish,
        },
        config.sources,
        {
          holder: `${hostname()}:${process.pid}:${randomBytes(4).toString('hex')}`,
          leaseTtlMs: config.poller.leaseTtl.totalOf('millisecond'),
          publishBatchSize: config.poller.publishBatchSize,
        },
      );
      const batches = new BatchScheduler(
        {
          loader: warehouse,
          runLog: warehouse,
          state,
          clock,
          logger: logger.child({ component: 'batch' }),
          sourceClients,
        },
        config.sources,
      );
      bus.start();
      logger.info('local pipeline open', {
        loader: loaderServer.url,
        warehouse: layout.warehouseFile,
        streamSources: poller.sources.map((s) => s.name),
        batchSources: batches.batchSources.map((s) => s.name),
      });
      return new LocalPipeline(
        warehouse,
        state,
        bus,
        loader,
        loaderServer,
        poller,
        batches,
        logger,
        clock,
        sourceClients,
        batchStats,
      );
    } catch (e: unknown) {
      for (const part of opened.reverse()) await part.close().catch(() => undefined);
      for (const client of sourceClients.values()) client.close();
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
      ['poller', () => this.poller.stop()],
      ['batch', () => this.batches.stop()],
      ['bus', () => this.bus.stop()],
      ['loader', () => this.loader.close()],
      ['loader server', () => this.loaderServer.close()],
      ['bus store', () => this.bus.close()],
      ['state store', () => this.state.close()],
      ['warehouse', () => this.warehouse.close()],
      [
        'source clients',
        () => {
          for (const client of this.sourceClients.values()) client.close();
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
