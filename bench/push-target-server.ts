/**
 * One push target for bench/loader-push.ts, in its own process so that the load generator and
 * the server under test never share an event loop:
 *
 *   node bench/dist/push-target-server.js --kind loader|noop --data-dir DIR [--max-delay-ms N]
 *
 * Prints `{"url": ...}` once listening. On SIGTERM it stops taking connections, lets in-flight
 * requests finish, flushes the loader's group commits, counts the warehouse rows and prints a
 * `PushTargetReport` as its last stdout line.
 */
import { createWriteStream, type WriteStream } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { once } from 'node:events';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { DuckDbWarehouse } from '@changefeed/shared/adapters/local';
import { loaderSchema, type LoaderConfig } from '@changefeed/shared/config';
import { errorMessage } from '@changefeed/shared/errors';
import { listen, type ListeningServer } from '@changefeed/shared/http';
import { createLogger, type Logger } from '@changefeed/shared/log';
import { systemClock } from '@changefeed/shared/ports';
import { buildLoaderApp, type LoaderStats } from '@changefeed/loader';
import express, { type Express } from 'express';
import { BENCH_TABLE } from './push-bodies';

export type PushTargetKind = 'loader' | 'noop';

export interface PushTargetReport {
  readonly kind: PushTargetKind;
  /** Rows in the warehouse's `<table>_changes` after the flush (loader only). */
  readonly rows: number | null;
  /** Distinct event ids among them: equal to `rows` unless the load generator repeated a body. */
  readonly distinctEvents: number | null;
  readonly stats: LoaderStats | null;
  /** Peak resident set of this process, KiB (`process.resourceUsage().maxRSS`). */
  readonly maxRssKiB: number;
  /** CPU time of this process since it was listening (all threads, DuckDB's included), user + system, ms. */
  readonly cpuMs: number;
}

interface Target {
  readonly app: Express;
  /** Flushes and closes whatever the app wrote to; returns the report's loader fields. */
  finish(): Promise<Pick<PushTargetReport, 'rows' | 'distinctEvents' | 'stats'>>;
}

/** The loader exactly as services/pipeline/src/local-pipeline.ts wires it, with the default loader config. */
async function loaderTarget(dataDir: string, config: LoaderConfig, logger: Logger): Promise<Target> {
  const warehouse = await DuckDbWarehouse.open(path.join(dataDir, 'warehouse.duckdb'), {
    logger: logger.child({ component: 'warehouse' }),
  });
  const loader = buildLoaderApp({
    rowSink: warehouse,
    logger: logger.child({ component: 'loader' }),
    clock: systemClock,
    config,
  });
  return {
    app: loader.app,
    finish: async () => {
      await loader.close();
      const changes = `${BENCH_TABLE}_changes`;
      // The table exists once a row was written: none at all is a figure (0), not a crash.
      const [exists] = await warehouse.query(
        `SELECT count(*) AS n FROM duckdb_tables() WHERE table_name = '${changes}'`,
      );
      const [count] =
        Number(exists?.['n'] ?? 0) === 0
          ? [{ rows: 0, distinct: 0 }]
          : await warehouse.query(
              `SELECT count(*) AS "rows", count(DISTINCT event_id) AS "distinct" FROM "${changes}"`,
            );
      await warehouse.close();
      return {
        rows: Number(count?.['rows'] ?? 0),
        distinctEvents: Number(count?.['distinct'] ?? 0),
        stats: loader.stats(),
      };
    },
  };
}

/**
 * The baseline: express 5 reading the body exactly as the loader's app does before any loader
 * code runs (every content type as raw bytes, the same limit), then 204. What the loader costs
 * on top of this is its own: JSON and envelope validation, the CloudEvent, the group commit and
 * the DuckDB append.
 */
function noopTarget(config: LoaderConfig): Target {
  const app = express();
  app.disable('x-powered-by');
  app.post('/pubsub/push', express.raw({ type: () => true, limit: config.maxBodyBytes }), (_req, res) => {
    res.status(204).end();
  });
  return { app, finish: () => Promise.resolve({ rows: null, distinctEvents: null, stats: null }) };
}

function parseKind(value: string | undefined): PushTargetKind {
  if (value === 'loader' || value === 'noop') return value;
  throw new Error(`--kind must be loader or noop, not ${value ?? '(missing)'}`);
}

/** Logs as `changefeed run` does: info and up to a file in the data dir, warnings and errors to stderr. */
function pipelineLogger(dataDir: string): { logger: Logger; logFile: WriteStream } {
  const logFile = createWriteStream(path.join(dataDir, 'changefeed.log'), { flags: 'a' });
  const logger = createLogger('changefeed', {
    streams: [
      { stream: logFile, level: 'info' },
      { stream: process.stderr, level: 'warn' },
    ],
  });
  return { logger, logFile };
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      kind: { type: 'string' },
      'data-dir': { type: 'string' },
      'max-delay-ms': { type: 'string' },
    },
  });
  const kind = parseKind(values.kind);
  const dataDir = values['data-dir'];
  if (dataDir === undefined) throw new Error('--data-dir is required');
  await mkdir(dataDir, { recursive: true });
  const maxDelay = values['max-delay-ms'];
  const config = loaderSchema.parse(maxDelay === undefined ? {} : { groupCommitMaxDelay: Number(maxDelay) });
  const { logger, logFile } = pipelineLogger(dataDir);
  const target = kind === 'loader' ? await loaderTarget(dataDir, config, logger) : noopTarget(config);
  const server: ListeningServer = await listen(target.app, { port: 0, host: '127.0.0.1' });
  // Start-up (loading modules, opening DuckDB) is not what a request costs.
  const cpuAtListen = process.cpuUsage();
  process.stdout.write(`${JSON.stringify({ url: server.url })}\n`);

  process.once('SIGTERM', () => {
    void (async () => {
      await server.close();
      const loaderFields = await target.finish();
      logger.end();
      logFile.end();
      await once(logFile, 'close');
      const cpu = process.cpuUsage(cpuAtListen);
      const report: PushTargetReport = {
        kind,
        ...loaderFields,
        maxRssKiB: process.resourceUsage().maxRSS,
        cpuMs: (cpu.user + cpu.system) / 1000,
      };
      // Exits once the report is written; --cpu-prof writes its profile on exit either way.
      process.stdout.write(`${JSON.stringify(report)}\n`, () => process.exit(0));
    })().catch((e: unknown) => {
      process.stderr.write(`push target failed while stopping: ${errorMessage(e)}\n`);
      process.exit(1);
    });
  });
}

main().catch((e: unknown) => {
  process.stderr.write(`push target failed to start: ${errorMessage(e)}\n`);
  process.exit(1);
});
