import { Firestore } from '@google-cloud/firestore';
import { PubSub } from '@google-cloud/pubsub';
import { Storage, type StorageOptions } from '@google-cloud/storage';
import {
  DEFAULTS,
  isGcsUrl,
  parseConfig,
  readConfigFile,
  type Config,
  type ConfigLoadOptions,
  type GcpConfig,
} from '../../config';
import { AppError } from '../../errors';
import type { Logger } from '../../log';
import { currentOptionsByTable, type CurrentOptions } from './bigquery-current-options';
import { firestoreEmulatorSettings, pubSubClientOptions, storageEndpoint } from './emulator-clients';
import { BigQueryWarehouse } from './bigquery-warehouse';
import { createBigQueryClients } from './bigquery-clients';
import { FirestoreSnapshotStore } from './firestore-snapshot-store';
import { GcsPayloadStore } from './gcs-payload-store';
import { readGcsText } from './gcs-text-reader';
import { createSubscriberClient, PubSubDeadLetterQueue } from './pubsub-dead-letter-queue';
import { PubSubEventPublisher } from './pubsub-event-publisher';
import { PubSubPullConsumer, type PullBatchConsumer } from './pubsub-pull-consumer';
import { pubSubResourceName } from './pubsub-names';

/**
 * Reads and validates the config from a mounted path or a gs:// URL; with `options.env`, also
 * that the variables it names for the service's sources are set (see parseConfig).
 */
export async function loadServiceConfig(location: string, options: ConfigLoadOptions = {}): Promise<Config> {
  const text = isGcsUrl(location) ? await readGcsText(new Storage(), location) : await readConfigFile(location);
  return parseConfig(text, location, options);
}

/**
 * The project the adapters work in: the config's, else the environment's. A service started
 * without either fails at start-up instead of writing to some default project.
 */
export function resolveProjectId(config: Config, env: Readonly<Record<string, string | undefined>>): string {
  const projectId = config.gcp.projectId ?? env['GOOGLE_CLOUD_PROJECT'];
  if (projectId === undefined || projectId === '') {
    throw new AppError('CONFIG.NO_PROJECT', 'no GCP project: set gcp.projectId in the config or GOOGLE_CLOUD_PROJECT');
  }
  return projectId;
}

/**
 * The BigQuery client does not understand its emulator variable in the form the other emulators
 * use (host:port), and the Storage Write client reads none: map both onto the config's explicit
 * endpoints, unless the config already names them.
 */
export function bigqueryConfigWithEmulator(
  config: GcpConfig['bigquery'],
  env: Readonly<Record<string, string | undefined>>,
): GcpConfig['bigquery'] {
  const rest = env['BIGQUERY_EMULATOR_HOST'];
  const grpc = env['BIGQUERY_STORAGE_EMULATOR_HOST'];
  return {
    ...config,
    apiEndpoint: config.apiEndpoint ?? (rest === undefined || rest === '' ? undefined : `http://${rest}`),
    storageWriteEndpoint: config.storageWriteEndpoint ?? (grpc === undefined || grpc === '' ? undefined : grpc),
  };
}

export function createBigQueryWarehouse(
  config: Config,
  projectId: string,
  env: Readonly<Record<string, string | undefined>>,
  logger: Logger,
): BigQueryWarehouse {
  const bq = bigqueryConfigWithEmulator(config.gcp.bigquery, env);
  const clients = createBigQueryClients(bq, projectId);
  const current = currentOptionsByTable(config);
  const emulator = bq.apiEndpoint?.startsWith('http:') ?? false;
  return new BigQueryWarehouse(clients.bigquery, clients.writer, {
    projectId,
    dataset: bq.dataset,
    location: bq.location,
    logger,
    current: emulator ? withoutChangeCapture(current, logger) : current,
  });
}

/**
 * The BigQuery emulator implements no change data capture: it stores CDC rows as plain ones, so
 * `_current` would keep every version. Against it, `cdc` tables are kept by `merge` instead, and
 * the log says so once per table.
 */
export function withoutChangeCapture(
  current: (table: string) => CurrentOptions,
  logger: Logger,
): (table: string) => CurrentOptions {
  const warned = new Set<string>();
  return (table) => {
    const options = current(table);
    if (options.mode !== 'cdc') return options;
    if (!warned.has(table)) {
      warned.add(table);
      logger.warn('the BigQuery emulator has no change data capture: _current is kept by merge', {
        table,
        compactEveryMs: options.compactEveryMs,
      });
    }
    return { ...options, mode: 'merge' };
  };
}

/**
 * The Firestore client honours FIRESTORE_EMULATOR_HOST by itself; on the emulator it also gets
 * the emulator's auth client, so that it looks for no credentials (see emulatorAuthClient).
 */
export function createFirestoreSnapshotStore(
  config: Config,
  projectId: string,
  env: Readonly<Record<string, string | undefined>>,
): {
  readonly store: FirestoreSnapshotStore;
  readonly client: Firestore;
} {
  const client = new Firestore({
    projectId,
    databaseId: config.gcp.firestore.databaseId,
    ...firestoreEmulatorSettings(env['FIRESTORE_EMULATOR_HOST']),
  });
  return { store: new FirestoreSnapshotStore(client, { collection: config.gcp.firestore.collection }), client };
}

/**
 * The poller's publisher, with `gcp.pubsub.publish`'s batching and flow control, on the emulator
 * PUBSUB_EMULATOR_HOST in `env` names (see pubSubClientOptions), else on Google Cloud.
 */
export function createPubSubPublisher(
  config: Config,
  projectId: string,
  env: Readonly<Record<string, string | undefined>>,
  logger: Logger,
): { readonly publisher: PubSubEventPublisher; readonly client: PubSub } {
  const client = new PubSub(pubSubClientOptions(projectId, env['PUBSUB_EMULATOR_HOST']));
  const publish = config.gcp.pubsub.publish;
  const publisher = PubSubEventPublisher.forTopic(client, config.gcp.pubsub.topic, {
    batching: {
      maxMessages: publish.batchMaxMessages,
      maxBytes: publish.batchMaxBytes,
      maxMilliseconds: publish.batchMaxDelay.totalOf('millisecond'),
    },
    flowControl: {
      maxOutstandingMessages: publish.maxOutstandingMessages,
      maxOutstandingBytes: publish.maxOutstandingBytes,
    },
    logger,
  });
  return { publisher, client };
}

/**
 * The claim check's store in `gcp.storage.payloadBucket`, or undefined when the config names no
 * bucket (the caller then refuses records over `payloads.inlineMaxBytes`, naming the setting).
 *
 * Endpoint: `gcp.storage.apiEndpoint`, else STORAGE_EMULATOR_HOST in `env` (see storageEndpoint),
 * else Google Cloud with Application Default Credentials. An `http:` endpoint is an emulator and
 * is spoken without credentials (the client sends none to a custom endpoint unless told to); an
 * `https:` one (a private endpoint) keeps them. The JSON API's base URL is set explicitly because
 * the client otherwise takes STORAGE_EMULATOR_HOST from `process.env` verbatim as its base URL,
 * which breaks on the `host:port` form and lacks the `/storage/v1` path.
 *
 * Retries: the client's own (exponential backoff on 408, 429, 5xx and network errors), bounded
 * by DEFAULTS.gcp.storage; an upload is retried because its precondition makes it idempotent.
 */
export function createGcsPayloadStore(
  config: Config,
  projectId: string,
  env: Readonly<Record<string, string | undefined>>,
): GcsPayloadStore | undefined {
  const settings = config.gcp.storage;
  if (settings.payloadBucket === undefined) return undefined;
  return new GcsPayloadStore(createStorageClient(settings, projectId, env), {
    bucket: settings.payloadBucket,
    prefix: settings.payloadPrefix,
    resumableFromBytes: DEFAULTS.gcp.storage.resumableFromBytes,
  });
}

/** The `Storage` client createGcsPayloadStore uses (endpoint, credentials, retries: see there). */
export function createStorageClient(
  settings: GcpConfig['storage'],
  projectId: string,
  env: Readonly<Record<string, string | undefined>>,
): Storage {
  const endpoint = storageEndpoint(settings.apiEndpoint, env['STORAGE_EMULATOR_HOST']);
  const defaults = DEFAULTS.gcp.storage;
  const options: StorageOptions = {
    projectId,
    timeout: defaults.requestTimeout.totalOf('millisecond'),
    retryOptions: {
      autoRetry: true,
      maxRetries: defaults.maxRetries,
      // Seconds, as the client counts them.
      totalTimeout: defaults.retryTotalTimeout.totalOf('second'),
    },
  };
  if (endpoint !== undefined) {
    options.apiEndpoint = endpoint;
    options.useAuthWithCustomEndpoint = endpoint.startsWith('https:');
  }
  const storage = new Storage(options);
  if (endpoint !== undefined) storage.baseUrl = `${endpoint}/storage/v1`;
  return storage;
}

/**
 * The loader's pull delivery (`loader.delivery: pull`) on `loader.pull.subscription`, with the
 * client's flow control bounding what is leased at once; on the emulator PUBSUB_EMULATOR_HOST in
 * `env` names (see pubSubClientOptions), else on Google Cloud. Not started: the caller starts it
 * and closes it on SIGTERM.
 */
export function createPullConsumer(
  config: Config,
  projectId: string,
  env: Readonly<Record<string, string | undefined>>,
  consume: PullBatchConsumer,
  logger: Logger,
): PubSubPullConsumer {
  const settings = config.loader.pull;
  const name = pubSubResourceName('subscriptions', settings.subscription, projectId, 'loader.pull.subscription');
  const subscription = new PubSub(pubSubClientOptions(projectId, env['PUBSUB_EMULATOR_HOST'])).subscription(name, {
    flowControl: {
      maxMessages: settings.maxOutstandingMessages,
      maxBytes: settings.maxOutstandingBytes,
      allowExcessMessages: false,
    },
  });
  return new PubSubPullConsumer(subscription, consume, {
    batchMaxMessages: settings.batchMaxMessages,
    batchMaxDelayMs: settings.batchMaxDelay.totalOf('millisecond'),
    exactlyOnce: settings.exactlyOnce,
    logger,
  });
}

/** Where `changefeed dlq` reads dead letters and where it replays them to. */
export interface PubSubDeadLetterTarget {
  readonly projectId: string;
  /** The pull subscription on the dead-letter topic: an id in the project, or a full name. */
  readonly subscription: string;
  /** The topic the loader's push subscription reads: an id in the project, or a full name. */
  readonly topic: string;
  /** Says where a bad name came from in the error, e.g. `--subscription` or `gcp.pubsub.topic`. */
  readonly subscriptionSetting: string;
  readonly topicSetting: string;
  /** See DEFAULTS.gcp.pubsub.deadLetterPullTimeout. */
  readonly pullTimeoutMs?: number;
}

export interface PubSubDeadLetters {
  readonly queue: PubSubDeadLetterQueue;
  /** The publisher of the main topic, with message ordering, for `queue.republish`. */
  readonly publisher: PubSubEventPublisher;
  /** Full names. */
  readonly subscription: string;
  readonly topic: string;
  close(): Promise<void>;
}

/**
 * The dead-letter queue and the main topic's publisher, on clients made for them. `emulatorHost`
 * is PUBSUB_EMULATOR_HOST as the caller read it: both clients are pointed at it explicitly (see
 * subscriberClientOptions). Names are checked before any client exists (ValidationError).
 */
export function openPubSubDeadLetters(
  target: PubSubDeadLetterTarget,
  emulatorHost: string | undefined,
  logger: Logger,
): PubSubDeadLetters {
  const subscription = pubSubResourceName(
    'subscriptions',
    target.subscription,
    target.projectId,
    target.subscriptionSetting,
  );
  const topic = pubSubResourceName('topics', target.topic, target.projectId, target.topicSetting);
  const subscriber = createSubscriberClient(emulatorHost);
  const pubsub = new PubSub(pubSubClientOptions(target.projectId, emulatorHost));
  const queue = new PubSubDeadLetterQueue(subscriber, { subscription, pullTimeoutMs: target.pullTimeoutMs, logger });
  const publisher = PubSubEventPublisher.forTopic(pubsub, topic, { logger });
  return {
    queue,
    publisher,
    subscription,
    topic,
    async close() {
      await Promise.allSettled([queue.close(), publisher.close()]);
      await Promise.allSettled([subscriber.close(), pubsub.close()]);
    },
  };
}
