import type { PubSubPullConsumer } from '@changefeed/shared/adapters/gcp';
import type { GcpBackend } from '@changefeed/shared/backend';
import type { Config } from '@changefeed/shared/config';
import { errorMessage } from '@changefeed/shared/errors';
import type { PushedMessage } from '@changefeed/shared/events';
import type { Logger } from '@changefeed/shared/log';
import { systemClock } from '@changefeed/shared/ports';
import { payloadDeps } from './app';
import { createBatchLoader, deliveryResults, type MessageOutcome } from './batch-loader';
import { tableAllowlist } from './table-allowlist';

export interface PullLoaderOptions {
  /**
   * Sees every loaded batch with one outcome per message, before the acks go out (`changefeed
   * run --once` waits until what it published is stored).
   */
  readonly onLoaded?: (messages: readonly PushedMessage[], outcomes: readonly MessageOutcome[]) => void;
}

/** The pull loader over the gcp backend's subscription and warehouse. */
export interface PullLoader {
  /** Its `stats()` count what was received, acked and nacked. */
  readonly consumer: PubSubPullConsumer;
  /** The full name of the subscription it pulls. */
  readonly subscription: string;
  /** Opens the StreamingPull stream. */
  start(): void;
  /**
   * Stops taking messages, loads and acks what was taken, closes the stream (flushing the acks).
   * The warehouse stays open: the backend closes it. Idempotent.
   */
  close(): Promise<void>;
}

/**
 * `loader.delivery: pull`: batches from `loader.pull.subscription` through the loader's batch core
 * into the backend's warehouse, each message acked once its row is durable and nacked otherwise.
 * The one wiring of the loader service's pull mode and of `changefeed run` on `backend: gcp`.
 */
export async function openPullLoader(
  backend: GcpBackend,
  config: Config,
  logger: Logger,
  options: PullLoaderOptions = {},
): Promise<PullLoader> {
  const subscription = backend.pullSubscriptionName();
  const warehouse = await backend.warehouse();
  const load = createBatchLoader({
    sink: warehouse,
    clock: systemClock,
    logger,
    tables: tableAllowlist(config.sources),
    ...payloadDeps({ store: await backend.payloads(), setting: backend.payloadStoreSetting }),
  });
  const consumer = await backend.pullConsumer(async (messages) => {
    const outcomes = await load(messages);
    options.onLoaded?.(messages, outcomes);
    return deliveryResults(outcomes);
  });
  let closing: Promise<void> | undefined;
  return {
    consumer,
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
      closing ??= consumer.close().catch((e: unknown) => {
        logger.error('closing the pull stream failed', { error: errorMessage(e) });
      });
      return closing;
    },
  };
}
