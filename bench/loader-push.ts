import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import autocannon from 'autocannon';
import { DEFAULTS } from '@changefeed/shared/config';
import { target, type BenchOptions, type Figure, type SectionResult } from './bench-types';
import { childScript, median, repeat } from './measure';
import { buildPushBodies, DistinctBodies } from './push-bodies';
import type { PushTargetKind, PushTargetReport } from './push-target-server';
import { startServerChild, type ServerChild } from './server-child';

/**
 * As many connections as the local bus keeps pushes in flight (`bus.concurrency`): the load the
 * loader gets in `changefeed run`. Each connection waits for its answer before sending again,
 * as a push subscriber's deliveries do.
 */
const CONNECTIONS = DEFAULTS.bus.concurrency;
const FULL = { durationS: 10, warmupS: 3 } as const;
const QUICK = { durationS: 1, warmupS: 1 } as const;
/** The no-op handler ignores bodies, so it cycles through this many instead of using up distinct ones. */
const NOOP_POOL = 4096;
/** Bodies built ahead of a loader run: the no-op's rate (an upper bound) over the run, plus a margin. */
const BODY_MARGIN = 1.25;

/** Set to a directory to have both servers write V8 CPU profiles there (`node --cpu-prof`). */
const CPU_PROF_ENV = 'BENCH_CPU_PROF_DIR';
/** Diagnosis only: overrides `loader.groupCommitMaxDelay` (ms); the figures are then not the default loader's. */
const MAX_DELAY_ENV = 'BENCH_LOADER_MAX_DELAY_MS';

interface LoadRun {
  readonly reqPerS: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  /** Requests written to a connection, answered or not: those in flight when a run stops go unanswered. */
  readonly sent: number;
  readonly ok: number;
  readonly non2xx: number;
  readonly errors: number;
  /** CPU the load generator (this process) used, as a share of one core. */
  readonly generatorCores: number;
}

interface PairRun {
  readonly noop: LoadRun;
  readonly loader: LoadRun;
}

/**
 * `POST /pubsub/push` under closed-loop load: the real loader (group commit into the local DuckDB
 * warehouse, wired as `changefeed run` wires it) against an express no-op that reads the body the
 * same way and answers 204, each in its own process, measured alternately with the same load
 * generator. The target is on their ratio.
 */
export async function benchLoaderPush(options: BenchOptions): Promise<SectionResult> {
  const { durationS, warmupS } = options.quick ? QUICK : FULL;
  const runs = options.quick ? 1 : Math.min(options.runs, 3);
  const cpuProfDir = process.env[CPU_PROF_ENV];
  const nodeArgs = cpuProfDir === undefined || cpuProfDir === '' ? [] : ['--cpu-prof', '--cpu-prof-dir', cpuProfDir];
  const maxDelayMs = process.env[MAX_DELAY_ENV];
  const maxDelayArgs = maxDelayMs === undefined || maxDelayMs === '' ? [] : ['--max-delay-ms', maxDelayMs];

  const serverScript = childScript('push-target-server');
  if (!existsSync(serverScript)) {
    throw new Error(`${serverScript} does not exist: run the compiled benchmark (bench/dist, after \`tsc -b\`)`);
  }
  const noopBodies = buildPushBodies(NOOP_POOL);
  let noopNext = 0;
  const nextNoopBody = (): Buffer => noopBodies[noopNext++ % noopBodies.length] as Buffer;
  const loaderBodies = new DistinctBodies();
  const bodyBytes = median(noopBodies.map((b) => b.length));

  const servers: Partial<Record<PushTargetKind, ServerChild<PushTargetReport>>> = {};
  const reports: Partial<Record<PushTargetKind, PushTargetReport>> = {};
  try {
    for (const kind of ['noop', 'loader'] as const) {
      const dataDir = path.join(options.workDir, `loader-push-${kind}`);
      await mkdir(dataDir, { recursive: true });
      servers[kind] = await startServerChild<PushTargetReport>(
        serverScript,
        ['--kind', kind, '--data-dir', dataDir, ...maxDelayArgs],
        { nodeArgs },
      );
    }
    const noopUrl = (servers.noop as ServerChild<PushTargetReport>).url;
    const loaderUrl = (servers.loader as ServerChild<PushTargetReport>).url;

    /** Every run, the warm-up's included: the servers saw them all. */
    const history: Record<PushTargetKind, LoadRun[]> = { noop: [], loader: [] };
    let fastestNoop = 0;
    const runNoop = async (seconds: number): Promise<LoadRun> => {
      const run = await load(noopUrl, nextNoopBody, seconds);
      history.noop.push(run);
      fastestNoop = Math.max(fastestNoop, run.reqPerS);
      return run;
    };
    const runLoader = async (seconds: number): Promise<LoadRun> => {
      loaderBodies.ensure(Math.ceil(Math.max(fastestNoop, 1000) * seconds * BODY_MARGIN));
      const run = await load(loaderUrl, () => loaderBodies.next(), seconds);
      history.loader.push(run);
      return run;
    };

    const pairs = await repeat(runs, async (run): Promise<PairRun> => {
      const seconds = run < 0 ? warmupS : durationS;
      // Alternating which goes first keeps a drift of the machine's speed out of the ratio.
      if (run % 2 === 0) {
        const loader = await runLoader(seconds);
        return { loader, noop: await runNoop(seconds) };
      }
      const noop = await runNoop(seconds);
      return { noop, loader: await runLoader(seconds) };
    });
    options.log(
      `loader-push: ${pairs.map((p) => `${p.loader.reqPerS.toFixed(0)}/${p.noop.reqPerS.toFixed(0)}`).join(', ')} req/s`,
    );

    for (const kind of ['noop', 'loader'] as const) {
      const server = servers[kind];
      delete servers[kind];
      if (server !== undefined) reports[kind] = await server.stop();
    }
    return sectionResult(pairs, history, reports, {
      durationS,
      warmupS,
      runs,
      bodyBytes,
      builtLate: loaderBodies.builtLate,
      maxDelayMs: maxDelayArgs.length === 0 ? undefined : maxDelayMs,
    });
  } finally {
    // Only after a failure: a server that is still up is stopped without waiting for its report.
    for (const server of Object.values(servers)) await server.stop().catch(() => undefined);
  }
}

/** One closed-loop run of `seconds` against `url`, every request carrying the next body. */
async function load(url: string, nextBody: () => Buffer, seconds: number): Promise<LoadRun> {
  const cpuBefore = process.cpuUsage();
  const result = await autocannon({
    url: `${url}/pubsub/push`,
    connections: CONNECTIONS,
    duration: seconds,
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    requests: [
      {
        setupRequest: (request) => {
          request.body = nextBody();
          return request;
        },
      },
    ],
  });
  const cpu = process.cpuUsage(cpuBefore);
  return {
    reqPerS: result.requests.total / result.duration,
    p50Ms: result.latency.p50,
    p99Ms: result.latency.p99,
    sent: result.requests.sent,
    ok: result['2xx'],
    non2xx: result.non2xx,
    errors: result.errors,
    generatorCores: (cpu.user + cpu.system) / 1e6 / result.duration,
  };
}

function sectionResult(
  pairs: readonly PairRun[],
  history: Readonly<Record<PushTargetKind, readonly LoadRun[]>>,
  reports: Partial<Record<PushTargetKind, PushTargetReport>>,
  conditions: {
    readonly durationS: number;
    readonly warmupS: number;
    readonly runs: number;
    readonly bodyBytes: number;
    readonly builtLate: number;
    readonly maxDelayMs: string | undefined;
  },
): SectionResult {
  const figure = (label: string, unit: string, samples: readonly number[]): Figure => ({
    label,
    unit,
    value: median(samples),
    samples,
  });
  const ratios = pairs.map((p) => p.loader.reqPerS / p.noop.reqPerS);
  const loaderReport = reports.loader;
  const side = (kind: PushTargetKind, field: 'reqPerS' | 'p50Ms' | 'p99Ms'): number[] =>
    pairs.map((p) => p[kind][field]);
  const figures: Figure[] = [
    figure('no-op handler', 'req/s', side('noop', 'reqPerS')),
    figure('loader (group commit → DuckDB)', 'req/s', side('loader', 'reqPerS')),
    figure('loader / no-op', 'x', ratios),
    figure('no-op p50 latency', 'ms', side('noop', 'p50Ms')),
    figure('no-op p99 latency', 'ms', side('noop', 'p99Ms')),
    figure('loader p50 latency', 'ms', side('loader', 'p50Ms')),
    figure('loader p99 latency', 'ms', side('loader', 'p99Ms')),
    { label: 'loader rows written', unit: 'rows', value: loaderReport?.rows ?? 0 },
  ];

  const measured = (pick: (p: PairRun) => LoadRun): LoadRun[] => pairs.map(pick);
  const sum = (kind: PushTargetKind, field: 'non2xx' | 'errors'): number =>
    history[kind].reduce((n, r) => n + r[field], 0);
  const notes = [
    `${CONNECTIONS} connections (the local bus's push concurrency), each waiting for its answer; ` +
      `${conditions.durationS} s per run after a ${conditions.warmupS} s warm-up, ${conditions.runs} runs, ` +
      'loader and no-op alternating; medians; latencies in whole ms (autocannon)',
    `bodies: Pub/Sub push envelopes of binary-mode CloudEvents, median ${conditions.bodyBytes} B, ` +
      'each loader request a distinct event id and entity',
    `load generator (autocannon, this process): ${median(measured((p) => p.noop).map((r) => r.generatorCores)).toFixed(2)} ` +
      `cores during no-op runs, ${median(measured((p) => p.loader).map((r) => r.generatorCores)).toFixed(2)} during loader runs`,
    verification(loaderReport, history.loader),
    `non-2xx / connection errors (warm-up included): no-op ${sum('noop', 'non2xx')} / ${sum('noop', 'errors')}, ` +
      `loader ${sum('loader', 'non2xx')} / ${sum('loader', 'errors')}`,
    `server CPU per request sent (all threads, warm-up included): no-op ${cpuPerRequest(reports.noop, history.noop)} µs, ` +
      `loader ${cpuPerRequest(reports.loader, history.loader)} µs`,
    `peak RSS: no-op server ${rssMiB(reports.noop)} MiB, loader server ${rssMiB(reports.loader)} MiB`,
  ];
  if (conditions.maxDelayMs !== undefined) {
    notes.push(`DIAGNOSIS: ${MAX_DELAY_ENV}=${conditions.maxDelayMs}, not the default loader config`);
  }
  if (conditions.builtLate > 0) {
    notes.push(`${conditions.builtLate} loader bodies were built during a run (the loader outran the estimate)`);
  }
  return {
    id: 'loader-push',
    title: 'Loader under push load',
    figures,
    targets: [target('loader ≥ 50% of no-op req/s', median(ratios), 0.5, 'min')],
    notes,
  };
}

/**
 * Whether the warehouse holds exactly one row per request sent, warm-up included: every
 * request answered 2xx, plus those still in flight when a run stopped (autocannon stops waiting
 * for them, the loader still writes them).
 */
function verification(report: PushTargetReport | undefined, runs: readonly LoadRun[]): string {
  if (report?.rows === null || report?.rows === undefined) return 'warehouse rows: not reported';
  const sent = runs.reduce((n, r) => n + r.sent, 0);
  const ok = runs.reduce((n, r) => n + r.ok, 0);
  const written = report.stats?.written ?? 0;
  const unanswered = sent - ok;
  const same =
    report.rows === sent &&
    report.distinctEvents === report.rows &&
    written === report.rows &&
    unanswered >= 0 &&
    unanswered <= CONNECTIONS * runs.length;
  return (
    `${same ? 'verified' : 'MISMATCH'}: warehouse rows ${report.rows} (distinct event ids ${String(report.distinctEvents)}), ` +
    `loader written ${written} (rejected ${report.stats?.rejected ?? 0}, failed ${report.stats?.failed ?? 0}), ` +
    `requests sent ${sent}, answered 2xx ${ok} (${unanswered} in flight when a run stopped)`
  );
}

function cpuPerRequest(report: PushTargetReport | undefined, runs: readonly LoadRun[]): string {
  const sent = runs.reduce((n, r) => n + r.sent, 0);
  return report === undefined || sent === 0 ? '?' : ((report.cpuMs * 1000) / sent).toFixed(0);
}

function rssMiB(report: PushTargetReport | undefined): string {
  return report === undefined ? '?' : (report.maxRssKiB / 1024).toFixed(0);
}
