import type * as GcpAdapters from '@changefeed/shared/adapters/gcp';
import type { Config } from '@changefeed/shared/config';
import { AppError, ValidationError, errorMessage } from '@changefeed/shared/errors';
import type { Logger } from '@changefeed/shared/log';
import type { DataDirLayout } from '@changefeed/pipeline';
import { GcpPipeline, type GcpOnceSummary } from '@changefeed/pipeline';
import { GcpProgressLine } from '../gcp-progress-line';
import { Exit, type ExitCode } from '../io';
import { showProgressUntilAborted } from '../show-progress';
import { batchLine, cycleLine } from '../summary-lines';
import type { PipelineContext, PipelineRunOptions } from './run-pipeline';

/**
 * `run --once` on gcp waits this long after the poll cycles for the loader to store what they
 * published. A message the loader cannot store comes back after Pub/Sub's retry backoff
 * (bus.minBackoff, 10 s by default) until it is dead-lettered, so a failing event takes minutes;
 * a healthy run on the emulators takes seconds.
 */
export const GCP_ONCE_DRAIN_TIMEOUT_MS = 120_000;

/**
 * `changefeed run` with `backend: gcp`: the poller and the pull loader in this process on Google
 * Cloud (or the emulators the standard variables name), the batch sources on their interval.
 * Says what it is connected to, checks that the topic and the subscription exist (`changefeed gcp
 * setup` creates them), then runs once or until the signal.
 */
export async function runGcpPipeline(
  config: Config,
  layout: DataDirLayout,
  ctx: PipelineContext,
  options: PipelineRunOptions,
  logger: Logger,
): Promise<ExitCode> {
  // Loaded only here: the Google Cloud clients take most of a second to load, and local mode needs none.
  const gcp = await import('@changefeed/shared/adapters/gcp');
  const configFile = options.configFile ?? 'the config';
  const setting = (key: string): string => `${configFile}: ${key}`;
  let projectId: string;
  try {
    projectId = gcp.resolveProjectId(config, ctx.env);
    const missing = await gcp.findMissingPullResources(config, projectId, ctx.env, setting);
    if (missing.length > 0) {
      ctx.stderr.write(
        `changefeed: ${missing.join(' and ')} ${missing.length === 1 ? 'does' : 'do'} not exist` +
          `${emulatorNote(ctx.env['PUBSUB_EMULATOR_HOST'])}; create ${missing.length === 1 ? 'it' : 'them'} with ` +
          `\`changefeed gcp setup --config ${options.configFile ?? 'F'}\`, then run again\n`,
      );
      return Exit.failed;
    }
  } catch (e: unknown) {
    ctx.stderr.write(`changefeed: ${errorMessage(e)}\n`);
    return isUsageProblem(e) ? Exit.usage : Exit.failed;
  }
  ctx.stdout.write(connections(gcp, config, projectId, ctx.env, layout, options.once));

  let pipeline: GcpPipeline;
  try {
    pipeline = await GcpPipeline.open({
      config,
      env: ctx.env,
      clock: ctx.clock,
      logger,
      afterPublish: ctx.afterPublish,
    });
  } catch (e: unknown) {
    ctx.stderr.write(`changefeed: cannot start: ${errorMessage(e)}\n`);
    return Exit.failed;
  }
  try {
    if (options.once) {
      const summary = await pipeline.runOnce({
        signal: ctx.signal,
        leaseWaitMs: config.poller.leaseTtl.totalOf('millisecond') + 5_000,
        drainTimeoutMs: GCP_ONCE_DRAIN_TIMEOUT_MS,
      });
      // The summary comes after close(): only then are the acks flushed.
      await pipeline.close();
      ctx.stdout.write(formatGcpSummary(summary, config, projectId, options.configFile ?? 'F'));
      return summary.failed ? Exit.failed : Exit.ok;
    }
    ctx.stdout.write('Ctrl-C stops (in-flight work is finished first).\n');
    pipeline.startLoops();
    const line = new GcpProgressLine(config.loader.pull.exactlyOnce);
    await showProgressUntilAborted(
      () => line.render(pipeline.progress(performance.now())),
      ctx,
      ctx.signal,
      options.progressIntervalMs,
    );
    await pipeline.close();
    const last = pipeline.progress(performance.now());
    ctx.stdout.write(
      `stopped: ${last.cycles} poll cycles, ${last.published} published, ${last.written + last.rejected} loaded ` +
        `(${last.rejected} rejected), ${last.nacked} nacked; what was not acked is delivered again on the next run\n`,
    );
    return Exit.ok;
  } catch (e: unknown) {
    if (ctx.signal.aborted) {
      ctx.stderr.write(
        'changefeed: interrupted; in-flight work was finished, Pub/Sub keeps the rest for the next run\n',
      );
    } else {
      ctx.stderr.write(`changefeed: ${errorMessage(e)}\n`);
    }
    return Exit.failed;
  } finally {
    await pipeline.close();
  }
}

function isUsageProblem(e: unknown): boolean {
  return e instanceof ValidationError || (e instanceof AppError && e.code.startsWith('CONFIG.'));
}

function emulatorNote(host: string | undefined): string {
  return host === undefined || host === '' ? '' : ` on the Pub/Sub emulator at ${host}`;
}

/** Where everything is, one line per service, naming the emulator when one is used. */
function connections(
  gcp: Pick<typeof GcpAdapters, 'bigqueryConfigWithEmulator' | 'pubSubResourceName'>,
  config: Config,
  projectId: string,
  env: Readonly<Record<string, string | undefined>>,
  layout: DataDirLayout,
  once: boolean,
): string {
  const at = (what: string | undefined): string =>
    what === undefined || what === '' ? '(Google Cloud)' : `(emulator ${what})`;
  const topic = gcp.pubSubResourceName('topics', config.gcp.pubsub.topic, projectId, 'gcp.pubsub.topic');
  const subscription = gcp.pubSubResourceName(
    'subscriptions',
    config.loader.pull.subscription,
    projectId,
    'loader.pull.subscription',
  );
  const bq = gcp.bigqueryConfigWithEmulator(config.gcp.bigquery, env);
  const bqEndpoints =
    bq.apiEndpoint === undefined
      ? undefined
      : `${bq.apiEndpoint}${bq.storageWriteEndpoint === undefined ? '' : `, Storage Write ${bq.storageWriteEndpoint}`}`;
  const stream = config.sources.filter((s) => s.mode === 'stream').map((s) => s.name);
  const batch = config.sources.filter((s) => s.mode === 'batch').map((s) => s.name);
  const lines = [
    `changefeed ${once ? 'running once' : 'running'} on GCP project ${projectId}, poller and pull loader in this process:`,
    `  Pub/Sub    topic ${topic}, subscription ${subscription}` +
      `${config.loader.pull.exactlyOnce ? ' (exactly-once)' : ''} ${at(env['PUBSUB_EMULATOR_HOST'])}`,
    `  Firestore  collection ${config.gcp.firestore.collection} in database ${config.gcp.firestore.databaseId} ` +
      at(env['FIRESTORE_EMULATOR_HOST']),
    `  BigQuery   dataset ${projectId}.${bq.dataset} (${bq.location}) ${at(bqEndpoints)}`,
    `  sources    stream: ${stream.length === 0 ? 'none' : stream.join(', ')}; batch: ${
      batch.length === 0 ? 'none' : `${batch.join(', ')} (run here, as the batch job would)`
    }`,
    `  log        ${layout.logFile}`,
  ];
  return `${lines.join('\n')}\n`;
}

export function formatGcpSummary(
  summary: GcpOnceSummary,
  config: Config,
  projectId: string,
  configFile: string,
): string {
  const d = summary.deliveries;
  const lines = [...summary.cycles.map(cycleLine), ...summary.batches.map(batchLine)];
  lines.push(
    `loader: ${d.stored} of ${d.published} published events stored (${d.stored - d.rejected} written, ` +
      `${d.rejected} rejected), ${d.deadLettered} dead-lettered` +
      (d.older > 0 ? `; also loaded ${d.older} older messages from the subscription` : ''),
  );
  if (d.missing > 0) {
    lines.push(
      `${d.missing} published events were not stored within ${Math.round(summary.waitedMs / 1000)} s: Pub/Sub keeps ` +
        `them on ${config.loader.pull.subscription} for the next run (unless another subscriber of it took them; ` +
        'see the log for load failures)',
    );
  }
  if (d.deadLettered > 0) {
    lines.push(`see them with: changefeed dlq list --config ${configFile}`);
  }
  lines.push(`BigQuery: ${projectId}.${config.gcp.bigquery.dataset}`);
  lines.push(summary.failed ? 'FAILED' : 'ok');
  return `${lines.join('\n')}\n`;
}
