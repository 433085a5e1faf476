import { mkdir } from 'node:fs/promises';
import { DuckDbWarehouse, SqliteLocalBus, SqliteLocalBusClient, SqliteSnapshotStore } from '../../adapters/local';
import { busSchema, DEFAULTS } from '../../config';
import { AppError, errorMessage } from '../../errors';
import type { BackendContext, DeadLetterAccess, LocalBackend, LocalDelivery } from '../backend';
import { dataDirLayout } from '../data-dir';
import { OpenedParts } from '../opened-parts';

/** The name the local bus puts in push envelopes, shaped like a Pub/Sub subscription path. */
export const LOCAL_SUBSCRIPTION = 'projects/local/subscriptions/changefeed-loader';

/**
 * The embedded backend: every file under the data directory, which is created on the first port
 * that needs it. DuckDB lets a single process hold the warehouse, so the local pipeline runs in
 * one process; `changefeed query` reads it through that process.
 */
export function openLocalBackend(context: BackendContext): Promise<LocalBackend> {
  const { clock, logger } = context;
  const busSettings = context.config?.bus ?? busSchema.parse({});
  const layout = dataDirLayout(process.cwd(), context.dataDir);
  const parts = new OpenedParts(logger);
  const dir = (): Promise<unknown> => mkdir(layout.dir, { recursive: true });
  let bus: SqliteLocalBus | undefined;

  const backend: LocalBackend = {
    name: 'local',
    layout,
    warehouse: () =>
      parts.once(
        'warehouse',
        async () => {
          await dir();
          return DuckDbWarehouse.open(layout.warehouseFile, { logger: logger.child({ component: 'warehouse' }) });
        },
        (w) => w.close(),
      ),
    readOnlyWarehouse: () =>
      parts.once(
        'read-only warehouse',
        () => DuckDbWarehouse.open(layout.warehouseFile, { readOnly: true }),
        (w) => w.close(),
      ),
    snapshots: () =>
      parts.once(
        'snapshot store',
        async () => {
          await dir();
          return SqliteSnapshotStore.open(layout.stateFile, { clock });
        },
        (s) => s.close(),
      ),
    deliveringBus(delivery: LocalDelivery) {
      return parts.once(
        'bus',
        async () => {
          await dir();
          bus = SqliteLocalBus.open({
            file: layout.busFile,
            pushEndpoint: delivery.pushEndpoint,
            ...(delivery.batches === undefined
              ? {}
              : { batches: { consume: delivery.batches, batchSize: busSettings.batchSize } }),
            subscription: LOCAL_SUBSCRIPTION,
            maxDeliveryAttempts: busSettings.maxDeliveryAttempts,
            minBackoffMs: busSettings.minBackoff.totalOf('millisecond'),
            maxBackoffMs: busSettings.maxBackoff.totalOf('millisecond'),
            concurrency: busSettings.concurrency,
            ackDeadlineMs: busSettings.ackDeadline.totalOf('millisecond'),
            idlePollMs: DEFAULTS.bus.idlePoll.totalOf('millisecond'),
            clock,
            logger: logger.child({ component: 'bus' }),
          });
          return bus;
        },
        (b) => b.close(),
      );
    },
    publisher() {
      // One process delivers the local bus (DuckDB has a single writer), so it publishes there too.
      if (bus === undefined) {
        return Promise.reject(
          new Error('the local backend publishes to the bus this process delivers: open deliveringBus() first'),
        );
      }
      return Promise.resolve(bus);
    },
    deadLetters: () =>
      parts.once(
        'dead letters',
        () => {
          let client: SqliteLocalBusClient;
          try {
            client = SqliteLocalBusClient.open(layout.busFile, { clock, logger });
          } catch (e: unknown) {
            throw new AppError(
              'BUS.UNAVAILABLE',
              `${errorMessage(e)}; the pipeline has not run with ${context.dataDirSetting ?? `the data directory ${layout.dir}`} (it keeps bus.sqlite there), or that is not the directory it used`,
              { cause: e },
            );
          }
          const access: DeadLetterAccess & { readonly client: SqliteLocalBusClient } = {
            client,
            queue: client,
            publisher: client,
            source: `the local bus ${layout.busFile}`,
            route: `from the dead letters of ${layout.busFile} back into its queue`,
            destination: layout.busFile,
            explain: errorMessage,
          };
          return access;
        },
        (access) => access.client.close(),
      ),
    // The local loader's push endpoint listens on loopback only.
    pushAuthenticator: () => undefined,
    close: () => parts.close(),
  };
  return Promise.resolve(backend);
}
