import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import type { BigQueryWarehouse, FirestoreSnapshotStore } from '@changefeed/shared/adapters/gcp';
import type { Config } from '@changefeed/shared/config';
import { errorMessage } from '@changefeed/shared/errors';
import type { Logger } from '@changefeed/shared/log';
import { systemClock, type EventPublisher, type PublishOutcome } from '@changefeed/shared/ports';
import { createSourceClient, type Environment, type HttpSourceClient } from '@changefeed/shared/source';
import { Poller } from './poller';

export interface GcpPollerHooks {
  /** See PollCycleDeps.afterPublish: the failpoint the crash tests kill the process at. */
  readonly afterPublish?: () => Promise<void> | void;
  /** Sees the outcomes of every publish group (`changefeed run` counts what was published). */
  readonly onPublished?: (outcomes: readonly PublishOutcome[]) => void;
}

/** The poller wired to Google Cloud, and what it opened. */
export interface GcpPoller {
  readonly poller: Poller;
  /** The Firestore snapshot store; it also keeps the batch sources' cursors. */
  readonly snapshots: FirestoreSnapshotStore;
  /** The BigQuery warehouse the cycles' audit rows go to. */
  readonly warehouse: BigQueryWarehouse;
  /** The full name of the topic it publishes to. */
  readonly topic: string;
  /**
   * Stops the poll loops (each finishes and commits its publish group in flight, then releases
   * its lease), then closes the publisher (flushing it) and every client. Idempotent.
   */
  close(): Promise<void>;
}

/**
 * Every stream source of `config` polled into Pub/Sub, its snapshot in Firestore and its audit
 * rows in BigQuery: the one wiring of the poller's Cloud Run service and of `changefeed run` on
 * `backend: gcp`. Not started: call `poller.start()` or `poller.runOnce()`. A source whose
 * credential variable is unset in `env` fails here, before any Google Cloud client exists.
 *
 * The Google Cloud adapters are loaded here, on first use, because importing them takes most of
 * a second and this module is part of the package index, which local mode loads too.
 */
export async function openGcpPoller(
  config: Config,
  projectId: string,
  env: Environment,
  logger: Logger,
  hooks: GcpPollerHooks = {},
): Promise<GcpPoller> {
  const sourceClients = new Map<string, HttpSourceClient>();
  for (const source of config.sources.filter((s) => s.mode === 'stream')) {
    sourceClients.set(source.name, createSourceClient(source, { env, clock: systemClock, logger }));
  }
  const gcp = await import('@changefeed/shared/adapters/gcp');
  const warehouse = gcp.createBigQueryWarehouse(config, projectId, env, logger.child({ module: 'warehouse' }));
  const firestore = gcp.createFirestoreSnapshotStore(config, projectId);
  const pubsub = gcp.createPubSubPublisher(config, projectId, logger);
  const poller = new Poller(
    {
      snapshots: firestore.store,
      publisher: withOutcomes(pubsub.publisher, hooks.onPublished),
      runLog: warehouse,
      clock: systemClock,
      logger,
      sourceClients,
      afterPublish: hooks.afterPublish,
    },
    config.sources,
    {
      holder: `${hostname()}:${process.pid}:${randomBytes(4).toString('hex')}`,
      leaseTtlMs: config.poller.leaseTtl.totalOf('millisecond'),
      publishBatchSize: config.poller.publishBatchSize,
    },
  );
  let closing: Promise<void> | undefined;
  return {
    poller,
    snapshots: firestore.store,
    warehouse,
    topic: pubsub.publisher.topicName,
    close() {
      closing ??= (async () => {
        await poller.stop();
        const steps: [string, () => Promise<unknown>][] = [
          ['publisher', () => pubsub.publisher.close()],
          ['warehouse', () => warehouse.close()],
          ['snapshot store', () => firestore.store.close()],
          ['clients', () => Promise.all([firestore.client.terminate(), pubsub.client.close()])],
        ];
        for (const [step, run] of steps) {
          await run().catch((e: unknown) => logger.error('shutdown step failed', { step, error: errorMessage(e) }));
        }
        for (const client of sourceClients.values()) client.close();
      })();
      return closing;
    },
  };
}

function withOutcomes(
  publisher: EventPublisher,
  onPublished: ((outcomes: readonly PublishOutcome[]) => void) | undefined,
): EventPublisher {
  if (onPublished === undefined) return publisher;
  return {
    async publish(messages) {
      const outcomes = await publisher.publish(messages);
      onPublished(outcomes);
      return outcomes;
    },
    close: () => publisher.close(),
  };
}
