import { openBackend, type Backend, type GcpBackend } from '@changefeed/shared/backend';
import type { Config } from '@changefeed/shared/config';
import type { Logger } from '@changefeed/shared/log';
import type { PushedMessage } from '@changefeed/shared/events';
import type { Clock, PublishOutcome } from '@changefeed/shared/ports';
import { createSourceClients, type Environment, type SourceClients } from '@changefeed/shared/source';
import type { BatchRunResult } from '@changefeed/batch';
import { openPullLoader, type MessageOutcome, type PullLoader } from '@changefeed/loader';
import { openPoller, type OpenedPoller, type PollCycleResult } from '@changefeed/poller';
import { BatchScheduler } from './batch-scheduler';
import { DeliveryTracker, type DeliveryCounts } from './delivery-tracker';
import { runShutdownSteps, type ShutdownStep } from './shutdown-steps';

export interface GcpPipelineOptions {
  readonly config: Config;
  readonly env: Environment;
  readonly clock: Clock;
  readonly logger: Logger;
  /** Test seam: runs between a publish group's ack and its snapshot commit (see shared/config/failpoints.ts). */
  readonly afterPublish?: () => Promise<void> | void;
}

export interface GcpOnceSummary {
  readonly cycles: readonly PollCycleResult[];
  readonly batches: readonly BatchRunResult[];
  readonly deliveries: DeliveryCounts;
  /** How long it waited for the loader to store what was published. */
  readonly waitedMs: number;
  readonly failed: boolean;
}

/** Counts since start, for the progress line. */
export interface GcpProgressSample {
  /** Monotonic ms. */
  readonly at: number;
  readonly cycles: number;
  /** Events Pub/Sub acknowledged to the poller. */
  readonly published: number;
  /** Messages the loader stored: rows in `_changes`... */
  readonly written: number;
  /** ...or in `_rejected`. */
  readonly rejected: number;
  /** Messages handed back for redelivery (a load failed, or they arrived while stopping). */
  readonly nacked: number;
  /** Exactly-once: acks Pub/Sub refused (those messages come again). */
  readonly ackFailed: number;
  /** Pulled and not yet acked or nacked. */
  readonly inFlight: number;
}

/**
 * The gcp pipeline in one process: the poller (Firestore snapshots, Pub/Sub, BigQuery audit rows)
 * and the pull loader (Pub/Sub StreamingPull into BigQuery), wired exactly as their Cloud Run
 * services are (`openPoller`, `openPullLoader` on the gcp backend), and the batch sources run on their
 * interval as Cloud Scheduler runs the batch job. For development on the emulators, or one VM.
 */
export class GcpPipeline {
  private stopping: Promise<void> | undefined;

  private constructor(
    private readonly config: Config,
    private readonly deliveries: DeliveryCounters,
    readonly backend: GcpBackend,
    readonly poller: OpenedPoller,
    readonly loader: PullLoader,
    readonly batches: BatchScheduler,
    private readonly batchClients: SourceClients,
    private readonly logger: Logger,
    private readonly clock: Clock,
  ) {}

  /**
   * Opens the poller and the loader and starts pulling; nothing is polled yet. Fails before any
   * Google Cloud client exists when a source's credential variable is unset.
   */
  static async open(options: GcpPipelineOptions): Promise<GcpPipeline> {
    const { config, env, logger, clock } = options;
    const batchClients = createSourceClients(
      config.sources.filter((s) => s.mode === 'batch'),
      { env, clock, logger: logger.child({ component: 'source' }) },
    );
    let backend: Backend;
    try {
      backend = await openBackend({ config, env, clock, logger, dataDir: '.' });
      if (backend.name !== 'gcp') throw new Error(`GcpPipeline runs on backend: gcp, not ${backend.name}`);
    } catch (e: unknown) {
      batchClients.close();
      throw e;
    }
    const deliveries = new DeliveryCounters();
    let poller: OpenedPoller | undefined;
    let loader: PullLoader;
    let batches: BatchScheduler;
    try {
      poller = await openPoller(
        backend,
        config,
        { env, clock, logger: logger.child({ component: 'poller' }) },
        {
          afterPublish: options.afterPublish,
          onPublished: (outcomes) => deliveries.onPublished(outcomes),
        },
      );
      loader = await openPullLoader(backend, config, logger.child({ component: 'loader' }), {
        onLoaded: (messages, outcomes) => deliveries.onLoaded(messages, outcomes),
      });
      const [warehouse, state] = await Promise.all([backend.warehouse(), backend.snapshots()]);
      batches = new BatchScheduler(
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
    } catch (e: unknown) {
      await poller?.close();
      await backend.close();
      batchClients.close();
      throw e;
    }
    const pipeline = new GcpPipeline(config, deliveries, backend, poller, loader, batches, batchClients, logger, clock);
    loader.start();
    logger.info('gcp pipeline open', {
      projectId: backend.projectId,
      topic: backend.topicName(),
      subscription: loader.subscription,
      dataset: config.gcp.bigquery.dataset,
      streamSources: poller.poller.sources.map((s) => s.name),
      batchSources: batches.batchSources.map((s) => s.name),
    });
    return pipeline;
  }

  /**
   * One poll cycle of every stream source and one run of every batch source, then waits until
   * the loader has stored every event the cycles published (or Pub/Sub dead-lettered it), for
   * at most `drainTimeoutMs`.
   */
  async runOnce(options: {
    readonly signal?: AbortSignal;
    readonly leaseWaitMs: number;
    readonly drainTimeoutMs: number;
  }): Promise<GcpOnceSummary> {
    // What setup gave the subscription (Pub/Sub's minimum is 5, see pubSubResourcePlan).
    const tracker = new DeliveryTracker(Math.max(5, this.config.bus.maxDeliveryAttempts));
    this.deliveries.tracker = tracker;
    try {
      const [cycles, batches] = await Promise.all([
        this.poller.poller.runOnce({ leaseWaitMs: options.leaseWaitMs, signal: options.signal }),
        this.batches.runOnce(options.signal),
      ]);
      const waitFrom = this.clock.now().getTime();
      const deliveries = await tracker.waitUntilSettled(this.clock, options.drainTimeoutMs, options.signal);
      const failed =
        cycles.some((c) => c.status === 'failed') ||
        batches.some((b) => b.status === 'failed') ||
        deliveries.missing > 0 ||
        deliveries.deadLettered > 0;
      return { cycles, batches, deliveries, waitedMs: this.clock.now().getTime() - waitFrom, failed };
    } finally {
      this.deliveries.tracker = undefined;
    }
  }

  /** Starts the poll loops and the batch schedule; they run until `close()`. */
  startLoops(): void {
    this.poller.poller.start();
    this.batches.start();
  }

  progress(at: number): GcpProgressSample {
    const pull = this.loader.consumer.stats();
    return {
      at,
      cycles: this.poller.poller.statuses().reduce((n, s) => n + s.cycles, 0),
      published: this.deliveries.published,
      written: this.deliveries.written,
      rejected: this.deliveries.rejected,
      nacked: pull.nacked,
      ackFailed: pull.ackFailed,
      inFlight: Math.max(0, pull.received - pull.acked - pull.nacked - pull.ackFailed),
    };
  }

  /**
   * SIGTERM path: stop the batch runs and the poll loops (each finishes and commits its publish
   * group in flight), then the loader (loads and acks what it took, closes the stream), then the
   * clients. Idempotent.
   */
  close(): Promise<void> {
    this.stopping ??= this.shutdown();
    return this.stopping;
  }

  private async shutdown(): Promise<void> {
    // The backend's ports are closed last, once nothing uses them.
    const steps: ShutdownStep[] = [
      ['batch', () => this.batches.stop()],
      ['poller', () => this.poller.close()],
      ['loader', () => this.loader.close()],
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
    this.logger.info('gcp pipeline closed');
  }
}

/** What the poller published and the loader stored since start; `tracker` matches them during runOnce. */
class DeliveryCounters {
  published = 0;
  written = 0;
  rejected = 0;
  /** Set during runOnce only: the sets it keeps grow with every message. */
  tracker: DeliveryTracker | undefined;

  onPublished(outcomes: readonly PublishOutcome[]): void {
    this.published += outcomes.filter((o) => o.ok).length;
    this.tracker?.onPublished(outcomes);
  }

  onLoaded(messages: readonly PushedMessage[], outcomes: readonly MessageOutcome[]): void {
    for (const o of outcomes) {
      if (o.kind === 'written') this.written += 1;
      else if (o.kind === 'rejected') this.rejected += 1;
    }
    this.tracker?.onLoaded(messages, outcomes);
  }
}
