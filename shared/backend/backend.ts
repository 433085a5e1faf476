import type { BatchDelivery, DuckDbWarehouse, SqliteLocalBus } from '../adapters/local';
import type { PubSubPullConsumer, PullBatchConsumer } from '../adapters/gcp';
import type { Config } from '../config';
import type { Logger } from '../log';
import type {
  Clock,
  DeadLetterQueue,
  EventPublisher,
  PayloadStore,
  PushAuthenticator,
  SnapshotStore,
  Warehouse,
} from '../ports';
import type { Environment } from '../source';
import type { DataDirLayout } from './data-dir';

/** What every backend is opened with. */
export interface BackendContext {
  /** Absent: no config file, the local backend of `dataDir` with the default settings (`changefeed dlq`). */
  readonly config: Config | undefined;
  readonly env: Environment;
  readonly clock: Clock;
  readonly logger: Logger;
  /** The local backend keeps its files here (absolute, or relative to the working directory). */
  readonly dataDir: string;
  /** Where `dataDir` came from, for messages (`--data-dir data`); the resolved path when absent. */
  readonly dataDirSetting?: string;
}

/** The dead letters of a backend and the bus they are replayed to. */
export interface DeadLetterAccess {
  readonly queue: DeadLetterQueue;
  /** Where `republish` sends them: the local bus file, or the main Pub/Sub topic. */
  readonly publisher: EventPublisher;
  /** Where the dead letters are, for messages: a bus file, or a subscription's full name. */
  readonly source: string;
  /** Where a replay takes them, for messages: `would replay 3 <route>`. */
  readonly route: string;
  /** Where replayed messages go next: the bus file, or the topic's full name. */
  readonly destination: string;
  /** A failure of these ports in words that say what to fix (which setting names what is missing). */
  explain(e: unknown): string;
}

/** `changefeed dlq`'s overrides of the config's dead-letter names (gcp only). */
export interface DeadLetterNames {
  readonly subscription?: string;
  readonly topic?: string;
  /** The config file, for error messages that say where a name came from. */
  readonly configFile?: string;
}

/**
 * The ports of one backend, opened on first use and shared by everyone in the process that asks
 * again. `close()` closes them in the reverse order of opening: stop the work that uses them
 * first (poll loops, deliveries, servers).
 */
export interface BackendPorts {
  readonly name: Config['backend'];
  /** Row sink, reference loader, run log and query: DuckDB locally, BigQuery on Google Cloud. */
  warehouse(): Promise<Warehouse>;
  /** Snapshot index, pending events, leases and batch cursors: SQLite locally, Firestore on Google Cloud. */
  snapshots(): Promise<SnapshotStore>;
  /** What the poller publishes to: the local bus, or the Pub/Sub topic. */
  publisher(): Promise<EventPublisher>;
  /** The dead letters and their way back; opened apart from the publisher, and closed with the backend. */
  deadLetters(names?: DeadLetterNames): Promise<DeadLetterAccess>;
  /**
   * Where records too large for the bus wait for the loader (the claim check): `<data-dir>/payloads`,
   * or `gcp.storage.payloadBucket`; undefined when that is not set.
   */
  payloads(): Promise<PayloadStore | undefined>;
  /** The setting that gives this backend its payload store, for messages when it has none. */
  readonly payloadStoreSetting: string;
  /** Checks push requests, when the backend's push delivery has a way to (Pub/Sub's OIDC tokens). */
  pushAuthenticator(): PushAuthenticator | undefined;
  /** Idempotent. */
  close(): Promise<void>;
}

/** How the local bus reaches the loader in this process. */
export interface LocalDelivery {
  /** `POST /pubsub/push` of the loader this process serves. */
  readonly pushEndpoint: string;
  /** `bus.delivery: batch`: the loader's batch core, called in process instead of over HTTP. */
  readonly batches?: BatchDelivery['consume'];
}

/** The embedded stand-ins: DuckDB, SQLite snapshots, the SQLite bus, all in one data directory. */
export interface LocalBackend extends BackendPorts {
  readonly name: 'local';
  readonly layout: DataDirLayout;
  warehouse(): Promise<DuckDbWarehouse>;
  /** The warehouse file opened for queries only, when no process holds it (`changefeed query`). */
  readOnlyWarehouse(): Promise<DuckDbWarehouse>;
  /**
   * The bus that delivers to this process's loader, and the publisher from then on: the local
   * backend runs in one process (DuckDB has a single writer), so `publisher()` fails before this.
   */
  deliveringBus(delivery: LocalDelivery): Promise<SqliteLocalBus>;
}

/** Pub/Sub, Firestore and BigQuery in one project (or their emulators). */
export interface GcpBackend extends BackendPorts {
  readonly name: 'gcp';
  readonly projectId: string;
  /** `gcp.pubsub.topic`'s full name; throws a ValidationError naming the setting when it is malformed. */
  topicName(): string;
  /** `loader.pull.subscription`'s full name; throws like `topicName()`. */
  pullSubscriptionName(): string;
  /** `loader.delivery: pull`: StreamingPull on the loader's subscription into `consume`. Not started. */
  pullConsumer(consume: PullBatchConsumer): Promise<PubSubPullConsumer>;
}

export type Backend = LocalBackend | GcpBackend;
