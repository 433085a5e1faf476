import { rm } from 'node:fs/promises';
import {
  DuckDbWarehouse,
  FilePayloadStore,
  SqliteLocalBus,
  SqliteLocalBusClient,
  SqliteSnapshotStore,
} from '../../adapters/local';
import {
  bearerHeader,
  createSharedSecretPushAuthenticator,
  newPushSecret,
} from '../../adapters/local/shared-secret-push-auth';
import { busSchema, DEFAULTS } from '../../config';
import { AppError, errorMessage } from '../../errors';
import type { BackendContext, DeadLetterAccess, LocalBackend, LocalDelivery } from '../backend';
import { dataDirLayout } from '../data-dir';
import { OpenedParts } from '../opened-parts';
import { ensurePrivateDir, ensurePrivateFile, writePrivateFile } from '../private-files';

/** The name the local bus puts in push envelopes, shaped like a Pub/Sub subscription path. */
export const LOCAL_SUBSCRIPTION = 'projects/local/subscriptions/changefeed-loader';

/**
 * The embedded backend: every file under the data directory, which is created on the first port
 * that needs it. DuckDB lets a single process hold the warehouse, so the local pipeline runs in
 * one process; `changefeed query` reads it through that process.
 *
 * The directory is its owner's only (0700) and so are the files it creates (0600): the warehouse
 * and the bus hold the sources' data. The loader listens on loopback, where any local process can
 * reach it, so each start draws a new push secret: the bus sends it as a bearer token, the
 * loader's authenticator refuses any other request, and `<data-dir>/push.secret` (0600, removed
 * on close) lets the owner push by hand.
 */
export function openLocalBackend(context: BackendContext): Promise<LocalBackend> {
  const { clock, logger } = context;
  const busSettings = context.config?.bus ?? busSchema.parse({});
  const layout = dataDirLayout(process.cwd(), context.dataDir);
  const parts = new OpenedParts(logger);
  const dir = (): Promise<void> => ensurePrivateDir(layout.dir);
  const pushSecret = newPushSecret();
  const authenticator = createSharedSecretPushAuthenticator(pushSecret);
  let bus: SqliteLocalBus | undefined;

  const backend: LocalBackend = {
    name: 'local',
    layout,
    warehouse: () =>
      parts.once(
        'warehouse',
        async () => {
          await dir();
          const warehouse = await DuckDbWarehouse.open(layout.warehouseFile, {
            logger: logger.child({ component: 'warehouse' }),
          });
          // DuckDB creates its file itself (it refuses an empty one made beforehand): narrowed once open.
          await ensurePrivateFile(layout.warehouseFile, { create: false });
          await ensurePrivateFile(`${layout.warehouseFile}.wal`, { create: false });
          return warehouse;
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
          await ensurePrivateFile(layout.stateFile, { create: true });
          return SqliteSnapshotStore.open(layout.stateFile, { clock });
        },
        (s) => s.close(),
      ),
    deliveringBus(delivery: LocalDelivery) {
      return parts.once(
        'bus',
        async () => {
          await dir();
          await ensurePrivateFile(layout.busFile, { create: true });
          await writePrivateFile(layout.pushSecretFile, `${pushSecret}\n`);
          bus = SqliteLocalBus.open({
            file: layout.busFile,
            pushEndpoint: delivery.pushEndpoint,
            pushAuthorization: bearerHeader(pushSecret),
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
        async (b) => {
          await b.close();
          await rm(layout.pushSecretFile, { force: true });
        },
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
    payloads: () =>
      parts.once(
        'payload store',
        async () => {
          await dir();
          return new FilePayloadStore(layout.payloadsDir);
        },
        (store) => store.close(),
      ),
    payloadStoreSetting: '--data-dir',
    // Loopback is not a boundary between local users: the bus proves itself with this start's secret.
    pushAuthenticator: () => authenticator,
    close: () => parts.close(),
  };
  return Promise.resolve(backend);
}
