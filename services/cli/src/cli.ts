import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { DEFAULTS } from '@changefeed/shared/config';
import type { Clock } from '@changefeed/shared/ports';
import { configCheck } from './commands/config-check';
import { demoApiCommand } from './commands/demo-api';
import { queryCommand } from './commands/query';
import { runCommand } from './commands/run';
import { startCommand } from './commands/start';
import { Exit, type CliIo, type ExitCode } from './io';

export interface CliContext extends CliIo {
  readonly signal: AbortSignal;
  readonly clock: Clock;
  /** Where `changefeed start` finds the example config. */
  readonly exampleConfig: string;
  readonly afterPublish?: () => Promise<void> | void;
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
        new Option(`${portFlag} <port>`, 'demo API port').argParser(port(portFlag)).default(DEFAULTS.demoApiPort),
      )
      .addOption(
        new Option('--carts <n>', 'carts at start')
          .argParser(integer('--carts', 0, 10_000_000))
          .default(DEFAULTS.demoCarts),
      )
      .addOption(
        new Option('--changes-per-second <r>', 'cart creations, updates and deletions per second')
          .argParser(rate)
          .default(DEFAULTS.demoChangesPerSecond),
      )
      .addOption(
        new Option('--seed <s>', 'random seed').argParser(integer('--seed', 0, 2 ** 31)).default(DEFAULTS.demoSeed),
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
    .description('the whole pipeline on your config, locally')
    .requiredOption('--config <file>', 'config file (YAML)')
    .option('--data-dir <dir>', 'where the SQLite files and the DuckDB warehouse live', DEFAULTS.dataDir)
    .option(
      '--once',
      'one poll cycle of every stream source and one run of every batch source, drain the bus, exit',
      false,
    )
    .action(async (o: { config: string; dataDir: string; once: boolean }) => {
      code = await runCommand(o, ctx);
    });

  program
    .command('config')
    .description('configuration tools')
    .command('check')
    .description('validate a config file; prints every problem as file:line:col: path: message')
    .argument('<file>', 'config file (YAML)')
    .action(async (file: string) => {
      code = await configCheck(file, ctx);
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
    .action(async (sql: string, o: { dataDir: string; json: boolean }) => {
      code = await queryCommand({ sql, ...o }, ctx);
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
