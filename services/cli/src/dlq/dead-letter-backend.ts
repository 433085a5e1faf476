import path from 'node:path';
import { openBackend } from '@changefeed/shared/backend';
import { loadConfig } from '@changefeed/shared/config';
import { AppError, ValidationError } from '@changefeed/shared/errors';
import type { Logger } from '@changefeed/shared/log';
import type { Clock, DeadLetterQueue, EventPublisher } from '@changefeed/shared/ports';
import { findControl } from '@changefeed/pipeline';
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
  if (config?.backend !== 'gcp') {
    for (const [flag, value] of [
      ['--subscription', flags.subscription],
      ['--topic', flags.topic],
    ] as const) {
      if (value !== undefined) {
        const message = `${flag} applies to the gcp backend; ${flags.config === undefined ? 'without --config, the backend is local' : `${flags.config} says backend: local`}`;
        throw new ValidationError(message, [{ path: flag, message }]);
      }
    }
  }
  const backend = await openBackend({
    config,
    env: io.env,
    clock,
    logger,
    dataDir: path.resolve(io.cwd, flags.dataDir),
    dataDirSetting: `--data-dir ${flags.dataDir}`,
  });
  try {
    const letters = await backend.deadLetters({
      subscription: flags.subscription,
      topic: flags.topic,
      configFile: flags.config,
    });
    const dir = backend.name === 'local' ? backend.layout.dir : undefined;
    return {
      queue: letters.queue,
      publisher: letters.publisher,
      source: letters.source,
      route: letters.route,
      explain: (e) => letters.explain(e),
      async deliveryNote() {
        if (dir === undefined) return `Pub/Sub pushes them from ${letters.destination} to the loader`;
        return (await findControl(dir)) === undefined
          ? 'they are delivered when the pipeline next runs (changefeed run, or npm start)'
          : 'the running changefeed delivers them now';
      },
      close: () => backend.close(),
    };
  } catch (e: unknown) {
    await backend.close();
    throw e;
  }
}
