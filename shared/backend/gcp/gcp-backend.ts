import {
  createBigQueryWarehouse,
  createFirestoreSnapshotStore,
  createGcsPayloadStore,
  createPubSubPublisher,
  createPullConsumer,
  createPushAuthenticator,
  openPubSubDeadLetters,
  pubSubResourceName,
  resolveProjectId,
} from '../../adapters/gcp';
import { AppError, errorMessage } from '../../errors';
import type { PushAuthenticator } from '../../ports';
import type { BackendContext, DeadLetterNames, GcpBackend } from '../backend';
import { OpenedParts } from '../opened-parts';

/**
 * Google Cloud: BigQuery, Firestore and Pub/Sub in the config's project (or the emulators the
 * standard `*_EMULATOR_HOST` variables name). No client exists until its port is first asked for;
 * the project is resolved at once.
 */
export function openGcpBackend(context: BackendContext): Promise<GcpBackend> {
  const { config, env, logger } = context;
  if (config === undefined) throw new Error('the gcp backend is opened from a config');
  const projectId = resolveProjectId(config, env);
  const parts = new OpenedParts(logger);
  let authenticator: PushAuthenticator | undefined;

  const backend: GcpBackend = {
    name: 'gcp',
    projectId,
    // Checked when used: `changefeed dlq --topic` overrides a topic the config may get wrong.
    topicName: () => pubSubResourceName('topics', config.gcp.pubsub.topic, projectId, 'gcp.pubsub.topic'),
    pullSubscriptionName: () =>
      pubSubResourceName('subscriptions', config.loader.pull.subscription, projectId, 'loader.pull.subscription'),
    warehouse: () =>
      parts.once(
        'warehouse',
        () => createBigQueryWarehouse(config, projectId, env, logger.child({ component: 'warehouse' })),
        (w) => w.close(),
      ),
    snapshots: () =>
      parts
        .once(
          'snapshot store',
          () => createFirestoreSnapshotStore(config, projectId, env),
          async (firestore) => {
            await firestore.store.close();
            await firestore.client.terminate();
          },
        )
        .then((firestore) => firestore.store),
    publisher: () =>
      parts
        .once(
          'publisher',
          () => createPubSubPublisher(config, projectId, env, logger.child({ component: 'publisher' })),
          async (pubsub) => {
            await pubsub.publisher.close();
            await pubsub.client.close();
          },
        )
        .then((pubsub) => pubsub.publisher),
    pullConsumer: (consume) =>
      parts.once(
        'pull consumer',
        () => createPullConsumer(config, projectId, env, consume, logger.child({ component: 'pull' })),
        (consumer) => consumer.close(),
      ),
    deadLetters: (names: DeadLetterNames = {}) =>
      parts.once(
        'dead letters',
        () => {
          const configFile = names.configFile ?? 'the config';
          const subscriptionSetting =
            names.subscription === undefined ? `${configFile}: gcp.pubsub.deadLetterSubscription` : '--subscription';
          const topicSetting = names.topic === undefined ? `${configFile}: gcp.pubsub.topic` : '--topic';
          const pubsub = openPubSubDeadLetters(
            {
              projectId,
              subscription: names.subscription ?? config.gcp.pubsub.deadLetterSubscription,
              topic: names.topic ?? config.gcp.pubsub.topic,
              subscriptionSetting,
              topicSetting,
              pullTimeoutMs: config.gcp.pubsub.deadLetterPullTimeout.totalOf('millisecond'),
            },
            env['PUBSUB_EMULATOR_HOST'],
            logger,
          );
          return {
            pubsub,
            queue: pubsub.queue,
            publisher: pubsub.publisher,
            source: pubsub.subscription,
            route: `from ${pubsub.subscription} to ${pubsub.topic}`,
            destination: pubsub.topic,
            explain: (e: unknown) => explainPubSub(e, pubsub, subscriptionSetting, topicSetting),
          };
        },
        (access) => access.pubsub.close(),
      ),
    payloads: () =>
      parts
        .once(
          'payload store',
          () => ({ store: createGcsPayloadStore(config, projectId, env) }),
          (opened) => opened.store?.close() ?? Promise.resolve(),
        )
        .then((opened) => opened.store),
    payloadStoreSetting: 'gcp.storage.payloadBucket',
    pushAuthenticator() {
      if (config.loader.auth === undefined) return undefined;
      authenticator ??= createPushAuthenticator(config.loader.auth, { logger });
      return authenticator;
    },
    close: () => parts.close(),
  };
  return Promise.resolve(backend);
}

function explainPubSub(
  e: unknown,
  names: { readonly subscription: string; readonly topic: string },
  subscriptionSetting: string,
  topicSetting: string,
): string {
  const code = e instanceof AppError ? e.code : '';
  if (code === 'DEAD_LETTER.NOT_FOUND') {
    return `the dead-letter subscription ${names.subscription} does not exist (set by ${subscriptionSetting})`;
  }
  if (code === 'PUBLISH.NOT_FOUND') return `the topic ${names.topic} does not exist (set by ${topicSetting})`;
  if (code.endsWith('.PERMISSION_DENIED')) {
    return (
      `${errorMessage(e)}; replaying needs roles/pubsub.subscriber on ${names.subscription} ` +
      `and roles/pubsub.publisher on ${names.topic}`
    );
  }
  return errorMessage(e);
}
