import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { DEFAULTS } from '@changefeed/shared/config';
import type { Clock } from '@changefeed/shared/ports';
import { ValidationError } from '@changefeed/shared/errors';
import { DEFAULT_USER_QUERY_TIMEOUT_MS } from '@changefeed/shared/adapters/local';
import { MAX_QUERY_TIMEOUT_MS } from '@changefeed/pipeline';
import { configCheck } from './commands/config-check';
import { configSchemaCommand } from './commands/config-schema';
import { demoApiCommand } from './commands/demo-api';
import { dlqListCommand, dlqPeekCommand, dlqReplayCommand, type DlqFlags, type ReplayFlags } from './commands/dlq';
import { gcpSetupCommand } from './commands/gcp-setup';
import { queryCommand } from './commands/query';
import { runCommand } from './commands/run';
import { startCommand } from './commands/start';
import { parseLetterCondition, parseTimeBound, SELECTION_HELP, type LetterCondition } from './dlq/letter-filter';
import { Exit, type CliIo, type ExitCode } from './io';

export interface CliContext extends CliIo {
  readonly signal: AbortSignal;
  readonly clock: Clock;
  /** Where `changefeed start` finds the example config. */
  readonly exampleConfig: string;
  readonly afterPublish?: () => Promise<void> | void;
  /** Test seam: after a `dlq replay` step was published, before its dead letters are removed (see failpoints.ts). */
  readonly afterReplayPublish?: () => Promise<void> | void;
  /** Test seam: after a delivered batch is in the warehouse, before the bus records its acks. */
  readonly afterAppend?: () => Promise<void> | void;
}

function integer(name: string, min: number, max: number): (value: string) => number {
  return (value) => {
    if (!/^\d+$/.test(value)) throw new InvalidArgumentError(`${name} must be a whole number, got "${value}"`);
    const n = Number(value);
    if (n < min || n > max) throw new InvalidArgumentError(`${name} must be between ${min} and ${max}, got ${n}`);
    return n;
  };
}

function rate(value: string): number {
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n) || n < 0) {
    throw new InvalidArgumentError(`--changes-per-second must be a number ≥ 0, got "${value}"`);
  }
  return n;
}

const port = (flag: string): ((v: string) => number) => integer(flag, 0, 65535);

/** What commander hands a `dlq` action: no `--filter` given leaves it undefined. */
type DlqOptions<F extends DlqFlags = DlqFlags> = Omit<F, 'filter'> & { readonly filter?: LetterCondition[] };

function messagesPerSecond(value: string): number {
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n) || n <= 0) {
    throw new InvalidArgumentError(`--rate must be a number of messages per second > 0, got "${value}"`);
  }
  return n;
}

/** Commander's form of a parser that throws ValidationError: the message without the flag, which commander adds. */
function flagParser<T>(parse: (value: string) => T): (value: string) => T {
  return (value) => {
    try {
      return parse(value);
    } catch (e: unknown) {
      if (e instanceof ValidationError) throw new InvalidArgumentError(e.issues[0]?.message ?? e.message);
      throw e;
    }
  };
}

/**
 * Parses `argv` (without node and script) and runs the command. Returns the exit code: commands
 * never exit the process themselves, so tests drive the whole CLI in-process.
 */
export async function runCli(argv: readonly string[], ctx: CliContext): Promise<ExitCode> {
  let code: ExitCode = Exit.ok;
  const program = new Command('changefeed')
    .description('Turn REST APIs into near-real-time change feeds in BigQuery, or locally in DuckDB.')
    .exitOverride()
    .showHelpAfterError('(run with --help for usage)')
    .configureOutput({
      writeOut: (s) => ctx.stdout.write(s),
      writeErr: (s) => ctx.stderr.write(s),
    });

  const demoOptions = (cmd: Command, portFlag: string): Command =>
    cmd
      .addOption(
        new Option(`${portFlag} <port>`, 'demo API port').argParser(port(portFlag)).default(DEFAULTS.demoApi.port),
      )
      .addOption(
        new Option('--carts <n>', 'carts at start')
          .argParser(integer('--carts', 0, 10_000_000))
          .default(DEFAULTS.demoApi.carts),
      )
      .addOption(
        new Option('--changes-per-second <r>', 'cart creations, updates and deletions per second')
          .argParser(rate)
          .default(DEFAULTS.demoApi.changesPerSecond),
      )
      .addOption(
        new Option('--seed <s>', 'random seed').argParser(integer('--seed', 0, 2 ** 31)).default(DEFAULTS.demoApi.seed),
      );

  demoOptions(
    program
      .command('start')
      .description('demo API + the whole pipeline on the example config (what `npm start` runs)')
      .option('--data-dir <dir>', 'where the SQLite files and the DuckDB warehouse live', DEFAULTS.dataDir),
    '--demo-port',
  ).action(async (o: { dataDir: string; demoPort: number; carts: number; changesPerSecond: number; seed: number }) => {
    code = await startCommand({ ...o, exampleConfig: ctx.exampleConfig }, ctx);
  });

  program
    .command('run')
    .description(
      'the whole pipeline on your config in this process: locally, or with backend: gcp the poller and a pull loader on Google Cloud (or its emulators)',
    )
    .requiredOption('--config <file>', 'config file (YAML)')
    .option(
      '--data-dir <dir>',
      'where the SQLite files and the DuckDB warehouse live (gcp: only the log)',
      DEFAULTS.dataDir,
    )
    .option(
      '--once',
      'one poll cycle of every stream source and one run of every batch source, drain the bus (gcp: until the loader stored what was published), exit',
      false,
    )
    .action(async (o: { config: string; dataDir: string; once: boolean }) => {
      code = await runCommand(o, ctx);
    });

  const config = program.command('config').description('configuration tools');
  config
    .command('check')
    .description(
      'validate a config file and that the environment variables it names are set; prints every problem as file:line:col: path: message',
    )
    .argument('<file>', 'config file (YAML)')
    .option('--no-env', 'check the file alone, not the environment (for CI, which lints without the secrets)')
    .action(async (file: string, o: { env: boolean }) => {
      code = await configCheck(file, o, ctx);
    });
  config
    .command('schema')
    .description("print the config file's JSON Schema, for editors (completion, descriptions, checks as you type)")
    .action(() => {
      code = configSchemaCommand(ctx);
    });

  program
    .command('gcp')
    .description('Google Cloud tools')
    .command('setup')
    .description(
      'create the Pub/Sub topics and subscriptions and the BigQuery dataset the config names, where missing ' +
        '(on the emulators when PUBSUB_EMULATOR_HOST / BIGQUERY_EMULATOR_HOST are set); existing ones are reported and left alone',
    )
    .requiredOption('--config <file>', 'config file (YAML) with backend: gcp')
    .option(
      '--dead-letter-topic <name>',
      'the dead-letter topic (default: gcp.pubsub.topic with -events replaced by, or else followed by, -dead-letters)',
    )
    .action(async (o: { config: string; deadLetterTopic?: string }) => {
      code = await gcpSetupCommand(o, ctx);
    });

  demoOptions(program.command('demo-api').description('only the demo store API'), '--port').action(
    async (o: { port: number; carts: number; changesPerSecond: number; seed: number }) => {
      code = await demoApiCommand(o, ctx);
    },
  );

  program
    .command('query')
    .description('SQL against the local warehouse (asks the running process if one runs)')
    .argument('<sql>', 'the query')
    .option('--data-dir <dir>', 'data directory', DEFAULTS.dataDir)
    .option('--json', 'one JSON object per row', false)
    .addOption(
      new Option('--timeout <ms>', 'interrupt the query after this many milliseconds')
        .argParser(integer('--timeout', 1, MAX_QUERY_TIMEOUT_MS))
        .default(DEFAULT_USER_QUERY_TIMEOUT_MS),
    )
    .action(async (sql: string, o: { dataDir: string; json: boolean; timeout: number }) => {
      code = await queryCommand({ sql, dataDir: o.dataDir, json: o.json, timeoutMs: o.timeout }, ctx);
    });

  const dlq = program
    .command('dlq')
    .description('inspect and replay dead letters: what the loader could not take after every retry');
  const dlqOptions = (cmd: Command, defaultLimit: string): Command =>
    cmd
      .option('--config <file>', 'config file (YAML); its backend (local or gcp) says where the dead letters are')
      .option('--data-dir <dir>', 'local backend: where the pipeline keeps its files', DEFAULTS.dataDir)
      .option(
        '--subscription <name>',
        'gcp: the dead-letter pull subscription (default: gcp.pubsub.deadLetterSubscription)',
      )
      .addOption(
        new Option('--limit <n>', `at most this many (default: ${defaultLimit})`).argParser(
          integer('--limit', 1, 1_000_000_000),
        ),
      )
      .addOption(
        new Option('--filter <key=value>', 'only matching dead letters; repeatable (see below)').argParser(
          (value: string, previous: LetterCondition[] | undefined) => [
            ...(previous ?? []),
            flagParser(parseLetterCondition)(value),
          ],
        ),
      )
      .addOption(
        new Option(
          '--since <time>',
          'only those dead-lettered at or after: 2h, 7d, 2024-06-01, 2024-06-01T12:00Z',
        ).argParser(flagParser((v) => parseTimeBound(v, ctx.clock.now(), '--since'))),
      )
      .addOption(
        new Option('--until <time>', 'only those dead-lettered before (same forms as --since)').argParser(
          flagParser((v) => parseTimeBound(v, ctx.clock.now(), '--until')),
        ),
      )
      .option('--json', 'one JSON object per line', false)
      .addHelpText(
        'after',
        `${SELECTION_HELP}\nExamples:\n  changefeed dlq list --filter source=carts --since 2h\n` +
          '  changefeed dlq replay --config changefeed.deployed.yaml --filter type=updated --rate 50 --dry-run\n',
      );

  dlqOptions(
    dlq
      .command('list')
      .description('dead letters as a table (event id, type, source, entity, attempts, failures, last error)'),
    String(DEFAULTS.dlq.listLimit),
  ).action(async (o: DlqOptions) => {
    code = await dlqListCommand({ ...o, filter: o.filter ?? [] }, ctx);
  });
  dlqOptions(
    dlq.command('peek').description('everything about the oldest dead letters: attributes and data'),
    String(DEFAULTS.dlq.peekLimit),
  ).action(async (o: DlqOptions) => {
    code = await dlqPeekCommand({ ...o, filter: o.filter ?? [] }, ctx);
  });
  dlqOptions(
    dlq
      .command('replay')
      .description(
        'republish dead letters to the bus they came from (data, attributes and ordering key unchanged); ' +
          'each is removed from the dead letters only once its republish was acknowledged. Ctrl-C stops after the step in flight',
      ),
    'all',
  )
    .option('--topic <name>', 'gcp: the topic to republish to (default: gcp.pubsub.topic)')
    .option('--dry-run', 'show what would be replayed; change nothing', false)
    .addOption(
      new Option(
        '--rate <msgs/s>',
        'at most this many messages per second (default: as fast as acknowledged)',
      ).argParser(messagesPerSecond),
    )
    .action(async (o: DlqOptions<ReplayFlags>) => {
      code = await dlqReplayCommand({ ...o, filter: o.filter ?? [] }, ctx);
    });

  try {
    await program.parseAsync([...argv], { from: 'user' });
  } catch (e: unknown) {
    if (e instanceof CommanderError) {
      // --help and --version end here too, with exit code 0.
      return e.exitCode === 0 ? Exit.ok : Exit.usage;
    }
    throw e;
  }
  return code;
}
