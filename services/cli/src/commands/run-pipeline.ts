import { createWriteStream } from 'node:fs';
import { once } from 'node:events';
import { ensurePrivateDir, ensurePrivateFile, PRIVATE_FILE_MODE } from '@changefeed/shared/backend';
import type { Config } from '@changefeed/shared/config';
import { errorMessage } from '@changefeed/shared/errors';
import { createLogger, type Logger } from '@changefeed/shared/log';
import type { Clock } from '@changefeed/shared/ports';
import { ControlServer } from '@changefeed/pipeline';
import type { DataDirLayout } from '@changefeed/pipeline';
import { Exit, type CliIo, type ExitCode } from '../io';
import { LocalPipeline, type OnceSummary } from '@changefeed/pipeline';
import { ProgressLine } from '../progress-line';
import { runGcpPipeline } from './run-gcp-pipeline';
import { showProgressUntilAborted } from '../show-progress';
import { batchLine, cycleLine } from '../summary-lines';

export interface PipelineContext extends CliIo {
  /** Aborted by SIGTERM/SIGINT: stop taking work, drain, exit. */
  readonly signal: AbortSignal;
  readonly clock: Clock;
  readonly afterPublish?: () => Promise<void> | void;
  readonly afterAppend?: () => Promise<void> | void;
}

export interface PipelineRunOptions {
  readonly once: boolean;
  /** Progress refresh, ms: in place on a terminal, one line per interval otherwise. */
  readonly progressIntervalMs?: number;
  /** The --config path as given, for messages that suggest a command. */
  readonly configFile?: string;
}

/**
 * Runs the pipeline on `config`, once or until the signal; prints progress and a summary. The
 * local backend runs on the embedded stand-ins; `backend: gcp` runs the poller and a pull loader
 * in this process against Google Cloud or its emulators (see run-gcp-pipeline.ts). Either way the
 * log goes to the data directory.
 */
export async function runPipeline(
  config: Config,
  layout: DataDirLayout,
  ctx: PipelineContext,
  options: PipelineRunOptions,
): Promise<ExitCode> {
  if (config.backend === 'gcp' && config.loader.delivery !== 'pull') {
    const file = options.configFile ?? 'F';
    ctx.stderr.write(
      `changefeed run on backend: gcp runs the poller and the loader in this process, the loader pulling ` +
        `loader.pull.subscription; this config says loader.delivery: ${config.loader.delivery}, where Pub/Sub ` +
        'pushes to the deployed loader service (see README, "Deploying to GCP"). ' +
        `Set loader.delivery: pull, create the subscription with \`changefeed gcp setup --config ${file}\`, and run again.\n`,
    );
    return Exit.usage;
  }
  // The log names sources, tables and errors: its owner's only, as is the directory.
  await ensurePrivateDir(layout.dir);
  await ensurePrivateFile(layout.logFile, { create: true });
  const logFile = createWriteStream(layout.logFile, { flags: 'a', mode: PRIVATE_FILE_MODE });
  const logger = createLogger('changefeed', {
    streams: [
      { stream: logFile, level: 'info' },
      { stream: ctx.stderr, level: 'warn' },
    ],
  });
  try {
    if (config.backend === 'gcp') return await runGcpPipeline(config, layout, ctx, options, logger);
    return await runWithLogger(config, layout, ctx, options, logger);
  } finally {
    logger.end();
    logFile.end();
    await once(logFile, 'close').catch(() => undefined);
  }
}

async function runWithLogger(
  config: Config,
  layout: DataDirLayout,
  ctx: PipelineContext,
  options: PipelineRunOptions,
  logger: Logger,
): Promise<ExitCode> {
  let pipeline: LocalPipeline;
  try {
    pipeline = await LocalPipeline.open({
      config,
      layout,
      env: ctx.env,
      clock: ctx.clock,
      logger,
      afterPublish: ctx.afterPublish,
      afterAppend: ctx.afterAppend,
    });
  } catch (e: unknown) {
    ctx.stderr.write(`changefeed: cannot start: ${errorMessage(e)}\n`);
    return Exit.failed;
  }
  let control: ControlServer | undefined;
  try {
    control = await ControlServer.start(layout.dir, (sql, timeoutMs, signal) =>
      pipeline.warehouse.userQuery(sql, { timeoutMs, signal }),
    );
    if (options.once) {
      const summary = await pipeline.runOnce({
        signal: ctx.signal,
        leaseWaitMs: config.poller.leaseTtl.totalOf('millisecond') + 5_000,
      });
      ctx.stdout.write(formatSummary(summary, layout));
      return summary.failed ? Exit.failed : Exit.ok;
    }
    ctx.stdout.write(
      `changefeed running: loader ${pipeline.loaderUrl}, warehouse ${layout.warehouseFile}\n` +
        `query it with: npx changefeed query "select * from ${exampleTable(config)} limit 10"${layout.dir.endsWith('.changefeed') ? '' : ` --data-dir ${layout.dir}`}\n` +
        'Ctrl-C stops (in-flight work is finished first).\n',
    );
    pipeline.startLoops();
    const line = new ProgressLine();
    await showProgressUntilAborted(
      () => line.render(pipeline.progress(performance.now())),
      ctx,
      ctx.signal,
      options.progressIntervalMs,
    );
    return Exit.ok;
  } catch (e: unknown) {
    if (ctx.signal.aborted) {
      ctx.stderr.write('changefeed: interrupted; in-flight work was finished, the rest continues on the next run\n');
    } else {
      ctx.stderr.write(`changefeed: ${errorMessage(e)}\n`);
    }
    return Exit.failed;
  } finally {
    await control?.close();
    await pipeline.close();
  }
}

export function formatSummary(summary: OnceSummary, layout: DataDirLayout): string {
  const lines = [...summary.cycles.map(cycleLine), ...summary.batches.map(batchLine)];
  lines.push(`bus: ${summary.delivered} delivered, ${summary.deadLettered} dead-lettered`);
  lines.push(`warehouse: ${layout.warehouseFile}`);
  lines.push(summary.failed ? 'FAILED' : 'ok');
  return `${lines.join('\n')}\n`;
}

/** A table the user can query right away: the first stream source's current state. */
function exampleTable(config: Config): string {
  const stream = config.sources.find((s) => s.mode === 'stream');
  return stream === undefined ? (config.sources[0]?.table ?? '_runs') : `${stream.table}_current`;
}
