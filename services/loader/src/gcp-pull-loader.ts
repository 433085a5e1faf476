import type { BigQueryWarehouse, PubSubPullConsumer } from '@changefeed/shared/adapters/gcp';
import type { Config } from '@changefeed/shared/config';
import { errorMessage } from '@changefeed/shared/errors';
import type { PushedMessage } from '@changefeed/shared/events';
import type { Logger } from '@changefeed/shared/log';
import { systemClock } from '@changefeed/shared/ports';
import type { Environment } from '@changefeed/shared/source';
import { createBatchLoader, deliveryResults, type MessageOutcome } from './batch-loader';

export interface GcpPullLoaderOptions {
  /**
   * The warehouse to load into, when the caller has one already (the loader service shares its
   * push endpoint's); it stays the caller's. Absent: one is opened, and closed by `close()`.
   */
  readonly warehouse?: BigQueryWarehouse;
  /**
   * Sees every loaded batch with one outcome per message, before the acks go out (`changefeed
   * run --once` waits until what it published is stored).
   */
  readonly onLoaded?: (messages: readonly PushedMessage[], outcomes: readonly MessageOutcome[]) => void;
}

/** The pull loader wired to Google Cloud, and what it opened. */
export interface GcpPullLoader {
  /** Its `stats()` count what was received, acked and nacked. */
  readonly consumer: PubSubPullConsumer;
  readonly warehouse: BigQueryWarehouse;
  /** The full name of the subscription it pulls. */
  readonly subscription: string;
  /** Opens the StreamingPull stream. */
  start(): void;
  /**
   * Stops taking messages, loads and acks what was taken, closes the stream (flushing the acks),
   * then the warehouse if it opened it. Idempotent.
   */
  close(): Promise<void>;
}

/**
 * `loader.delivery: pull`: batches from `loader.pull.subscription` through the loader's batch core
 * into BigQuery, each message acked once its row is durable and nacked otherwise. The one wiring
 * of the loader service's pull mode and of `changefeed run` on `backend: gcp`.
 *
 * The Google Cloud adapters are loaded here, on first use: this module is part of the package
 * index, which local mode loads too, and importing them takes most of a second.
 */
export async function openGcpPullLoader(
  config: Config,
  projectId: string,
  env: Environment,
  logger: Logger,
  options: GcpPullLoaderOptions = {},
): Promise<GcpPullLoader> {
  const gcp = await import('@changefeed/shared/adapters/gcp');
  const subscription = gcp.pubSubResourceName(
    'subscriptions',
    config.loader.pull.subscription,
    projectId,
    'loader.pull.subscription',
  );
  const warehouse =
    options.warehouse ?? gcp.createBigQueryWarehouse(config, projectId, env, logger.child({ module: 'warehouse' }));
  const load = createBatchLoader({ sink: warehouse, clock: systemClock, logger });
  const consumer = gcp.createPullConsumer(
    config,
    projectId,
    async (messages) => {
      const outcomes = await load(messages);
      options.onLoaded?.(messages, outcomes);
      return deliveryResults(outcomes);
    },
    logger.child({ module: 'pull' }),
  );
  let closing: Promise<void> | undefined;
  return {
    consumer,
    warehouse,
    subscription,
    start() {
      consumer.start();
      logger.info('loader pulling', {
        subscription,
        batchMaxMessages: config.loader.pull.batchMaxMessages,
        exactlyOnce: config.loader.pull.exactlyOnce,
      });
    },
    close() {
      closing ??= (async () => {
        await consumer.close().catch((e: unknown) => {
          logger.error('closing the pull stream failed', { error: errorMessage(e) });
        });
        if (options.warehouse === undefined) await warehouse.close();
      })();
      return closing;
    },
  };
}
