import path from 'node:path';
import { SqliteLocalBusClient } from '@changefeed/shared/adapters/local';
import { loadConfig, type Config } from '@changefeed/shared/config';
import { AppError, ValidationError, errorMessage } from '@changefeed/shared/errors';
import type { Logger } from '@changefeed/shared/log';
import type { Clock, DeadLetterQueue, EventPublisher } from '@changefeed/shared/ports';
import { findControl } from '../control-server';
import { dataDirLayout } from '../data-dir';
import type { CliIo } from '../io';

/** Which dead letters `changefeed dlq` works on: the config's backend, with the flags' overrides. */
export interface BackendFlags {
  /** Absent: the local backend in `dataDir`. */
  readonly config?: string;
  readonly dataDir: string;
  readonly subscription?: string;
  readonly topic?: string;
}

/** The dead letters and the bus they go back to, for one backend. */
export interface DeadLetterBackend {
  readonly queue: DeadLetterQueue;
  /** Where `republish` sends them: the local bus file, or the main Pub/Sub topic. */
  readonly publisher: EventPublisher;
  /** Where the dead letters are, for messages: `in <source>`. */
  readonly source: string;
  /** Where a replay takes them, for messages: `would replay 3 <route>`. */
  readonly route: string;
  /** What happens to replayed messages next, for the summary. */
  deliveryNote(): Promise<string>;
  /** A failure of this backend in words that say what to fix. */
  explain(e: unknown): string;
  close(): Promise<void>;
}

/** The flags or the config name something that cannot work (exit 2), as opposed to a failure at run time. */
export function isUsageProblem(e: unknown): boolean {
  return e instanceof ValidationError || (e instanceof AppError && e.code.startsWith('CONFIG.'));
}

/**
 * Opens the backend the flags and config choose. Throws ValidationError or a `CONFIG.*` AppError
 * (see isUsageProblem) for flags and config that cannot work, before connecting to anything.
 */
export async function openDeadLetterBackend(
  flags: BackendFlags,
  io: CliIo,
  clock: Clock,
  logger: Logger,
): Promise<DeadLetterBackend> {
  const config = flags.config === undefined ? undefined : await loadConfig(path.resolve(io.cwd, flags.config));
  if (config?.backend === 'gcp') return openPubSub(config, flags, io, logger);
  for (const [flag, value] of [
    ['--subscription', flags.subscription],
    ['--topic', flags.topic],
  ] as const) {
    if (value !== undefined) {
      const message = `${flag} applies to the gcp backend; ${flags.config === undefined ? 'without --config, the backend is local' : `${flags.config} says backend: local`}`;
      throw new ValidationError(message, [{ path: flag, message }]);
    }
  }
  const layout = dataDirLayout(io.cwd, flags.dataDir);
  let client: SqliteLocalBusClient;
  try {
    client = SqliteLocalBusClient.open(layout.busFile, { clock, logger });
  } catch (e: unknown) {
    throw new AppError(
      'BUS.UNAVAILABLE',
      `${errorMessage(e)}; the pipeline has not run with --data-dir ${flags.dataDir} (it keeps bus.sqlite there), or that is not the directory it used`,
      { cause: e },
    );
  }
  return {
    queue: client,
    publisher: client,
    source: `the local bus ${layout.busFile}`,
    route: `from the dead letters of ${layout.busFile} back into its queue`,
    async deliveryNote() {
      const running = await findControl(layout.dir);
      return running === undefined
        ? 'they are delivered when the pipeline next runs (changefeed run, or npm start)'
        : 'the running changefeed delivers them now';
    },
    explain: errorMessage,
    close: () => client.close(),
  };
}

async function openPubSub(config: Config, flags: BackendFlags, io: CliIo, logger: Logger): Promise<DeadLetterBackend> {
  // Loaded only here: the Google Cloud clients take most of a second to load, and the local backend needs none.
  const { openPubSubDeadLetters, resolveProjectId } = await import('@changefeed/shared/adapters/gcp');
  const configFile = flags.config ?? 'the config';
  const subscriptionSetting =
    flags.subscription === undefined ? `${configFile}: gcp.pubsub.deadLetterSubscription` : '--subscription';
  const topicSetting = flags.topic === undefined ? `${configFile}: gcp.pubsub.topic` : '--topic';
  const pubsub = openPubSubDeadLetters(
    {
      projectId: resolveProjectId(config, io.env),
      subscription: flags.subscription ?? config.gcp.pubsub.deadLetterSubscription,
      topic: flags.topic ?? config.gcp.pubsub.topic,
      subscriptionSetting,
      topicSetting,
      pullTimeoutMs: config.gcp.pubsub.deadLetterPullTimeout.totalOf('millisecond'),
    },
    io.env['PUBSUB_EMULATOR_HOST'],
    logger,
  );
  return {
    queue: pubsub.queue,
    publisher: pubsub.publisher,
    source: pubsub.subscription,
    route: `from ${pubsub.subscription} to ${pubsub.topic}`,
    deliveryNote: () => Promise.resolve(`Pub/Sub pushes them from ${pubsub.topic} to the loader`),
    explain(e) {
      const code = e instanceof AppError ? e.code : '';
      if (code === 'DEAD_LETTER.NOT_FOUND') {
        return `the dead-letter subscription ${pubsub.subscription} does not exist (set by ${subscriptionSetting})`;
      }
      if (code === 'PUBLISH.NOT_FOUND') return `the topic ${pubsub.topic} does not exist (set by ${topicSetting})`;
      if (code.endsWith('.PERMISSION_DENIED')) {
        return (
          `${errorMessage(e)}; replaying needs roles/pubsub.subscriber on ${pubsub.subscription} ` +
          `and roles/pubsub.publisher on ${pubsub.topic}`
        );
      }
      return errorMessage(e);
    },
    close: () => pubsub.close(),
  };
}
