import path from 'node:path';
import { FAILPOINTS, failpointHook, parseFailpoints } from '@changefeed/shared/config';
import { errorMessage } from '@changefeed/shared/errors';
import { createLogger, logProcessWarnings } from '@changefeed/shared/log';
import { systemClock } from '@changefeed/shared/ports';
import { runCli } from './cli';

/**
 * The `changefeed` process: reads the environment, turns SIGTERM/SIGINT into an abort (a second
 * one exits at once), runs the command and exits with its code.
 */
async function main(): Promise<void> {
  // A library's process warning (gcp-metadata's MetadataLookupWarning, a deprecation) is a JSON
  // line on stderr like the pipeline's own warnings, not Node's plain-text print.
  logProcessWarnings(process, createLogger('changefeed', { stream: process.stderr, level: 'warn' }));
  // Whatever the pipeline's stores create on their own (DuckDB's WAL and spill files, SQLite's
  // journals) is its owner's only, like the data directory around them.
  process.umask(0o077);
  let afterPublish: (() => void) | undefined;
  let afterReplayPublish: (() => void) | undefined;
  let afterAppend: (() => void) | undefined;
  try {
    const failpoints = parseFailpoints(process.env['CHANGEFEED_FAILPOINT']);
    const kill = (): void => {
      process.kill(process.pid, 'SIGKILL');
    };
    afterPublish = failpointHook(failpoints, FAILPOINTS.pollerAfterPublish, kill);
    afterReplayPublish = failpointHook(failpoints, FAILPOINTS.dlqAfterRepublish, kill);
    afterAppend = failpointHook(failpoints, FAILPOINTS.loaderAfterAppend, kill);
  } catch (e: unknown) {
    process.stderr.write(`changefeed: ${errorMessage(e)}\n`);
    process.exit(2);
  }

  const stop = new AbortController();
  const onSignal = (signal: NodeJS.Signals): void => {
    if (stop.signal.aborted) {
      process.stderr.write(`changefeed: second ${signal}, exiting now\n`);
      process.exit(1);
    }
    stop.abort(new Error(signal));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  const code = await runCli(process.argv.slice(2), {
    stdout: process.stdout,
    stderr: process.stderr,
    env: process.env,
    cwd: process.cwd(),
    signal: stop.signal,
    clock: systemClock,
    exampleConfig: path.resolve(__dirname, '..', '..', '..', 'examples', 'changefeed.local.yaml'),
    afterPublish,
    afterReplayPublish,
    afterAppend,
  });
  // Exit explicitly once stdout is flushed: a stray keep-alive socket must not keep a finished
  // `run --once` alive.
  process.stdout.write('', () => process.exit(code));
}

main().catch((e: unknown) => {
  process.stderr.write(`changefeed: unexpected error: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
  process.exit(1);
});
