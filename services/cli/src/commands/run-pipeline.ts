import { createWriteStream } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { once } from 'node:events';
import type { Config } from '@changefeed/shared/config';
import { errorMessage } from '@changefeed/shared/errors';
import { createLogger } from '@changefeed/shared/log';
import type { Clock } from '@changefeed/shared/ports';
import { ControlServer } from '../control-server';
import type { DataDirLayout } from '../data-dir';
import { Exit, type CliIo, type ExitCode } from '../io';
import { LocalPipeline, type OnceSummary } from '../local-pipeline';
import { ProgressLine } from '../progress-line';

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
}

const TTY_PROGRESS_MS = 1000;
const PLAIN_PROGRESS_MS = 10_000;

/** Runs the local pipeline on `config`, once or until the signal; prints progress and a summary. */
export async function runPipeline(
  config: Config,
  layout: DataDirLayout,
  ctx: PipelineContext,
  options: PipelineRunOptions,
): Promise<ExitCode> {
  if (config.backend !== 'local') {
    ctx.stderr.write(
      `changefeed run drives the local backend; this config says backend: ${config.backend}. ` +
        'On Google Cloud the poller, loader and batch job run as Cloud Run services (see README, "Deploying to GCP").\n',
    );
    return Exit.usage;
  }
  await mkdir(layout.dir, { recursive: true });
  const logFile = createWriteStream(layout.logFile, { flags: 'a' });
  const logger = createLogger('changefeed', {
    streams: [
      { stream: logFile, level: 'info' },
      { stream: ctx.stderr, level: 'warn' },
    ],
  });
  try {
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
  logger: ReturnType<typeof createLogger>,
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
    control = await ControlServer.start(layout.dir, (sql) => pipeline.warehouse.query(sql));
    if (options.once) {
      const summary = await pipeline.runOnce({ signal: ctx.signal, leaseWaitMs: config.poller.leaseTtl + 5_000 });
      ctx.stdout.write(formatSummary(summary, layout));
      return summary.failed ? Exit.failed : Exit.ok;
    }
    ctx.stdout.write(
      `changefeed running: loader ${pipeline.loaderUrl}, warehouse ${layout.warehouseFile}\n` +
        `query it with: npx changefeed query "select * from ${exampleTable(config)} limit 10"${layout.dir.endsWith('.changefeed') ? '' : ` --data-dir ${layout.dir}`}\n` +
        'Ctrl-C stops (in-flight work is finished first).\n',
    );
    pipeline.startLoops();
    await showProgressUntilAborted(pipeline, ctx, options);
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

async function showProgressUntilAborted(
  pipeline: LocalPipeline,
  ctx: PipelineContext,
  options: PipelineRunOptions,
): Promise<void> {
  const tty = ctx.stdout.isTTY === true;
  const interval = options.progressIntervalMs ?? (tty ? TTY_PROGRESS_MS : PLAIN_PROGRESS_MS);
  const line = new ProgressLine();
  line.render(pipeline.progress(performance.now()));
  const timer = setInterval(() => {
    const text = line.render(pipeline.progress(performance.now()));
    ctx.stdout.write(tty ? `\r\x1b[2K${text}` : `${text}\n`);
  }, interval);
  try {
    if (!ctx.signal.aborted) await once(ctx.signal, 'abort');
  } finally {
    clearInterval(timer);
    if (tty) ctx.stdout.write('\n');
    ctx.stdout.write('stopping: finishing in-flight work...\n');
  }
}

export function formatSummary(summary: OnceSummary, layout: DataDirLayout): string {
  const lines: string[] = [];
  for (const c of summary.cycles) {
    const skipped = c.skipped.notObject + c.skipped.missingId + c.skipped.duplicateId;
    lines.push(
      `${c.source} (stream${c.coldStart ? ', cold start' : ''}): ${c.records} records, ${c.counts.created} created, ` +
        `${c.counts.updated} updated, ${c.counts.deleted} deleted, ${skipped} skipped, ${c.published} published — ` +
        `${c.status} in ${(c.durationMs / 1000).toFixed(1)} s${c.error === null ? '' : `: ${c.error}`}`,
    );
  }
  for (const b of summary.batches) {
    lines.push(
      `${b.source} (batch, ${b.mode}): ${b.rowsRead} read, ${b.rowsWritten} written — ${b.status} in ` +
        `${(b.durationMs / 1000).toFixed(1)} s${b.error === null ? '' : `: ${b.error}`}`,
    );
  }
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
