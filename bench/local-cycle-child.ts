import { createWriteStream } from 'node:fs';
import { once } from 'node:events';
import { mkdir } from 'node:fs/promises';
import { loadConfig } from '@changefeed/shared/config';
import { createLogger } from '@changefeed/shared/log';
import { systemClock } from '@changefeed/shared/ports';
import { dataDirLayout, LocalPipeline } from '@changefeed/pipeline';
import { elapsedMs } from './measure';

/** What one phase (a cold start, or a cycle after churn) of the local pipeline reports. */
export interface LocalCycleReport {
  readonly openMs: number;
  /** From the start of the poll to the last event written to the warehouse (bus idle). */
  readonly cycleMs: number;
  readonly counts: { readonly created: number; readonly updated: number; readonly deleted: number };
  readonly delivered: number;
  readonly deadLettered: number;
  readonly currentRows: number;
  /** The poll cycle's own timings (the `_runs` details): where the time of the poll went. */
  readonly poll: Readonly<Record<string, number>>;
  readonly maxRssBytes: number;
}

/**
 * Child process of the end-to-end benchmark: opens the local pipeline of `--config` on
 * `--data-dir` exactly as `changefeed run --once` does (same adapters, logging to the data
 * directory's log file at info), runs one cycle, and reports. One process per phase, so its peak
 * RSS is the phase's.
 */
async function main(): Promise<void> {
  const arg = (name: string): string => {
    const at = process.argv.indexOf(name);
    const value = at < 0 ? undefined : process.argv[at + 1];
    if (value === undefined) throw new Error(`${name} is required`);
    return value;
  };
  const config = await loadConfig(arg('--config'));
  const layout = dataDirLayout(process.cwd(), arg('--data-dir'));
  await mkdir(layout.dir, { recursive: true });
  const logFile = createWriteStream(layout.logFile, { flags: 'a' });
  const logger = createLogger('changefeed', {
    streams: [
      { stream: logFile, level: 'info' },
      { stream: process.stderr, level: 'warn' },
    ],
  });
  let start = process.hrtime.bigint();
  const pipeline = await LocalPipeline.open({ config, layout, env: process.env, clock: systemClock, logger });
  const openMs = elapsedMs(start);
  try {
    start = process.hrtime.bigint();
    const summary = await pipeline.runOnce({ leaseWaitMs: config.poller.leaseTtl.totalOf('millisecond') + 5_000 });
    const cycleMs = elapsedMs(start);
    const cycle = summary.cycles[0];
    if (cycle === undefined || cycle.status !== 'succeeded') {
      throw new Error(`the poll cycle did not succeed: ${cycle?.error ?? 'no cycle ran'}`);
    }
    const table = config.sources[0]?.table ?? 'carts';
    const [rows] = await pipeline.warehouse.query(`SELECT count(*) AS n FROM ${table}_current`);
    const [run] = await pipeline.warehouse.query(
      `SELECT details FROM _runs WHERE run_id = '${cycle.runId.replace(/'/g, "''")}'`,
    );
    const report: LocalCycleReport = {
      openMs,
      cycleMs,
      counts: { created: cycle.counts.created, updated: cycle.counts.updated, deleted: cycle.counts.deleted },
      delivered: summary.delivered,
      deadLettered: summary.deadLettered,
      currentRows: Number(rows?.['n']),
      poll: (run?.['details'] ?? {}) as Record<string, number>,
      maxRssBytes: process.resourceUsage().maxRSS * 1024,
    };
    process.stdout.write(`${JSON.stringify(report)}\n`);
  } finally {
    await pipeline.close();
    logger.end();
    logFile.end();
    await once(logFile, 'close').catch(() => undefined);
  }
}

main().catch((e: unknown) => {
  process.stderr.write(`${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
  process.exitCode = 1;
});
