import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import type { BackendPorts } from '@changefeed/shared/backend';
import type { Config } from '@changefeed/shared/config';
import type { Logger } from '@changefeed/shared/log';
import { claimCheckPublisher } from '@changefeed/shared/payloads';
import type { Clock, EventPublisher, PublishOutcome } from '@changefeed/shared/ports';
import { createSourceClients, type Environment, type HttpSourceClient } from '@changefeed/shared/source';
import { Poller } from './poller';

export interface PollerHooks {
  /** See PollCycleDeps.afterPublish: the failpoint the crash tests kill the process at. */
  readonly afterPublish?: () => Promise<void> | void;
  /** Sees the outcomes of every publish group (`changefeed run` counts what was published). */
  readonly onPublished?: (outcomes: readonly PublishOutcome[]) => void;
}

/** The poller over a backend's ports, and the source clients it made. */
export interface OpenedPoller {
  readonly poller: Poller;
  /**
   * Stops the poll loops (each finishes and commits its publish group in flight, then releases
   * its lease) and closes the source clients. The backend's ports stay open: the backend closes
   * them. Idempotent.
   */
  close(): Promise<void>;
}

/** Who holds a source's lease: unique per process start, readable in the lease document. */
export function leaseHolder(): string {
  return `${hostname()}:${process.pid}:${randomBytes(4).toString('hex')}`;
}

/**
 * Every stream source of `config` polled into the backend's publisher, its snapshot in the
 * backend's store and its audit rows in the backend's warehouse: the one wiring of the poller's
 * Cloud Run service, of the local pipeline and of `changefeed run` on `backend: gcp`. Not
 * started: call `poller.start()` or `poller.runOnce()`. A source whose credential variable is
 * unset in `env` fails here, before any port is opened.
 */
export async function openPoller(
  backend: BackendPorts,
  config: Config,
  deps: {
    readonly env: Environment;
    readonly clock: Clock;
    readonly logger: Logger;
    /**
     * The stream sources' clients, when the caller made them already (to fail on a missing
     * credential before opening anything); `close()` closes them all the same.
     */
    readonly sourceClients?: ReadonlyMap<string, HttpSourceClient>;
  },
  hooks: PollerHooks = {},
): Promise<OpenedPoller> {
  const { env, clock, logger } = deps;
  const made = createSourceClients(
    config.sources.filter((s) => s.mode === 'stream' && deps.sourceClients?.has(s.name) !== true),
    { env, clock, logger: logger.child({ component: 'source' }) },
  );
  const sourceClients = new Map([...(deps.sourceClients ?? []), ...made.byName]);
  const closeClients = (): void => {
    for (const client of sourceClients.values()) client.close();
  };
  let poller: Poller;
  try {
    const [snapshots, busPublisher, runLog, payloads] = await Promise.all([
      backend.snapshots(),
      backend.publisher(),
      backend.warehouse(),
      backend.payloads(),
    ]);
    // Records too large for the bus travel by reference (the loader fetches them back).
    const publisher = claimCheckPublisher(busPublisher, {
      inlineMaxBytes: config.payloads.inlineMaxBytes,
      store: payloads,
      storeSetting: backend.payloadStoreSetting,
    });
    poller = new Poller(
      {
        snapshots,
        publisher: withOutcomes(publisher, hooks.onPublished),
        runLog,
        clock,
        logger,
        sourceClients,
        afterPublish: hooks.afterPublish,
      },
      config.sources,
      {
        holder: leaseHolder(),
        leaseTtlMs: config.poller.leaseTtl.totalOf('millisecond'),
        publishBatchSize: config.poller.publishBatchSize,
      },
    );
  } catch (e: unknown) {
    closeClients();
    throw e;
  }
  let closing: Promise<void> | undefined;
  return {
    poller,
    close() {
      closing ??= (async () => {
        await poller.stop();
        closeClients();
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
