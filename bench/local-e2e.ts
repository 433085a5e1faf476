import { mkdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { target, type BenchOptions, type Figure, type SectionResult, type Target } from './bench-types';
import { DemoApiProcess } from './demo-api-process';
import { prepareDlt, type DltLoaderFileFormat, type DltPeer, type DltPhaseResult } from './dlt-peer';
import type { LocalCycleReport } from './local-cycle-child';
import { childScript, median, repeat, runNodeChild } from './measure';

const SEED = 7;
/** Both tools fetch pages of this many carts by cursor, the demo API's largest page. */
export const PAGE_SIZE = 1000;
const MIB = 1024 * 1024;

interface Counts {
  readonly created: number;
  readonly updated: number;
  readonly deleted: number;
}

interface ChangefeedPhase {
  readonly report: LocalCycleReport;
  /** Spawn to exit of the phase's process: what a `changefeed run --once` costs, start-up included. */
  readonly wallMs: number;
}

interface Phases<T> {
  readonly cold: T;
  readonly churn: T;
}

/**
 * dlt as it comes (its DuckDB default writes INSERT statements) and as its docs advise for speed
 * (parquet files): the default would flatter changefeed, so both are measured and judged.
 */
const DLT_VARIANTS: readonly { readonly name: string; readonly format: DltLoaderFileFormat | undefined }[] = [
  { name: 'dlt (defaults)', format: undefined },
  { name: 'dlt (parquet)', format: 'parquet' },
];

interface RunResult {
  readonly cf: Phases<ChangefeedPhase>;
  /** By variant name; empty without dlt. */
  readonly dlt: ReadonlyMap<string, Phases<DltPhaseResult>>;
}

/** The config both local benchmarks poll the demo API with (shared so they measure the same thing). */
export function demoCartsConfigYaml(apiUrl: string): string {
  return [
    'backend: local',
    'sources:',
    '  - name: carts',
    '    mode: stream',
    '    request:',
    `      url: ${apiUrl}/carts?paging=cursor&limit=${PAGE_SIZE}`,
    '      recordsPath: carts',
    '      pagination: { type: cursor, nextCursorPath: nextCursor }',
    '      timeout: 60s',
    '    idField: id',
    '    table: carts',
    '    coldStart: emit',
    'loader:',
    '  port: 0',
    '',
  ].join('\n');
}

function sameCounts(a: Counts, b: Counts): boolean {
  return a.created === b.created && a.updated === b.updated && a.deleted === b.deleted;
}

function describe(c: Counts): string {
  return `${c.created} created / ${c.updated} updated / ${c.deleted} deleted`;
}

/**
 * End to end in local mode, and the same work done by dlt: a cold start of `n` carts, then one
 * cycle after `n / 10` mutations of the demo API. Each tool starts from an empty state on the same
 * data (the API is reset with the same seed, so the mutations are the same too), each phase in a
 * process of its own. A run fails when the tools disagree on what changed.
 */
export async function benchEndToEnd(options: BenchOptions & { readonly withDlt: boolean }): Promise<SectionResult> {
  const n = options.quick ? 2_000 : 100_000;
  const churn = Math.round(n / 10);
  const runs = Math.min(options.runs, 3);
  const dlt: DltPeer | undefined = options.withDlt ? await prepareDlt(options.log) : undefined;
  options.log(`e2e: demo API with ${n} carts`);
  const api = await DemoApiProcess.start({ carts: n, seed: SEED });
  const configFile = path.join(options.workDir, 'e2e.yaml');
  await writeFile(configFile, demoCartsConfigYaml(api.url));
  try {
    const results = await repeat(runs, async (run): Promise<RunResult> => {
      // The warm-up fills the page cache and Python's bytecode cache; a tenth of the data does that.
      const carts = run < 0 ? Math.round(n / 10) : n;
      const label = run < 0 ? 'warm-up' : `run ${run + 1}/${runs}`;
      const dataDir = path.join(options.workDir, `e2e-changefeed-${run + 1}`);
      await rm(dataDir, { recursive: true, force: true });
      await api.reset(carts);
      const cfPhase = async (): Promise<ChangefeedPhase> => {
        const { result, wallMs } = await runNodeChild<LocalCycleReport>(
          childScript('local-cycle-child'),
          ['--config', configFile, '--data-dir', dataDir],
          { log: options.log },
        );
        return { report: result, wallMs };
      };
      const cold = await cfPhase();
      const mutations = await api.mutate(Math.round(carts / 10));
      const cfChurn = await cfPhase();
      const apiCarts = await api.cartCount();
      options.log(
        `e2e: ${label}: changefeed cold ${seconds(cold.report.cycleMs)}, churn ${seconds(cfChurn.report.cycleMs)} (${describe(cfChurn.report.counts)})`,
      );
      if (cfChurn.report.currentRows !== apiCarts) {
        throw new Error(`changefeed: carts_current has ${cfChurn.report.currentRows} rows, the API ${apiCarts} carts`);
      }
      const dltResults = new Map<string, Phases<DltPhaseResult>>();
      for (const variant of dlt === undefined ? [] : DLT_VARIANTS) {
        const peer = dlt as DltPeer;
        const dltDir = path.join(options.workDir, `e2e-dlt-${run + 1}-${variant.format ?? 'default'}`);
        await rm(dltDir, { recursive: true, force: true });
        await mkdir(dltDir, { recursive: true });
        await api.reset(carts);
        const phase = { apiUrl: api.url, workDir: dltDir, loaderFileFormat: variant.format };
        const dltCold = await peer.runPhase(phase);
        const dltMutations = await api.mutate(Math.round(carts / 10));
        const dltChurn = await peer.runPhase(phase);
        options.log(
          `e2e: ${label}: ${variant.name} cold ${seconds(dltCold.wallMs)}, churn ${seconds(dltChurn.wallMs)} (${describe(dltChurn.counts)})`,
        );
        if (dltMutations !== mutations) throw new Error('the demo API applied different mutations for the two tools');
        if (!sameCounts(cold.report.counts, dltCold.counts) || !sameCounts(cfChurn.report.counts, dltChurn.counts)) {
          throw new Error(
            `the tools disagree: cold start changefeed ${describe(cold.report.counts)}, ${variant.name} ${describe(dltCold.counts)}; ` +
              `churn changefeed ${describe(cfChurn.report.counts)}, ${variant.name} ${describe(dltChurn.counts)}`,
          );
        }
        if (dltChurn.rows !== apiCarts) {
          throw new Error(`${variant.name}: ${dltChurn.rows} current rows, the API ${apiCarts} carts`);
        }
        dltResults.set(variant.name, { cold: dltCold, churn: dltChurn });
      }
      return { cf: { cold, churn: cfChurn }, dlt: dltResults };
    });
    return summarise(results, { n, churn, runs, apiPeakRss: api.peakRssBytes(), dltVersion: dlt?.version });
  } finally {
    await api.stop();
  }
}

function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(1)} s`;
}

function summarise(
  results: readonly RunResult[],
  context: { n: number; churn: number; runs: number; apiPeakRss: number | null; dltVersion: string | undefined },
): SectionResult {
  const figures: Figure[] = [];
  const targets: Target[] = [];
  const add = (label: string, unit: string, samples: number[]): number => {
    const value = median(samples);
    figures.push({ label, value, unit, samples });
    return value;
  };
  for (const phase of ['cold', 'churn'] as const) {
    const name = phase === 'cold' ? 'cold start' : '10% churn cycle';
    const cf = results.map((r) => r.cf[phase]);
    const events = cf.map((p) => p.report.counts.created + p.report.counts.updated + p.report.counts.deleted);
    add(
      `${name}: changefeed, poll start → last row visible`,
      'ms',
      cf.map((p) => p.report.cycleMs),
    );
    add(
      `${name}: changefeed events/s`,
      'events/s',
      cf.map((p, i) => (events[i] as number) / (p.report.cycleMs / 1000)),
    );
    add(
      `${name}: changefeed process wall time`,
      'ms',
      cf.map((p) => p.wallMs),
    );
    add(
      `${name}: changefeed peak RSS`,
      'MiB',
      cf.map((p) => p.report.maxRssBytes / MIB),
    );
    for (const variant of DLT_VARIANTS) {
      const pairs = results.flatMap((r) => {
        const d = r.dlt.get(variant.name);
        return d === undefined ? [] : [{ cf: r.cf[phase], dlt: d[phase] }];
      });
      if (pairs.length === 0) continue;
      add(
        `${name}: ${variant.name} process wall time`,
        'ms',
        pairs.map((r) => r.dlt.wallMs),
      );
      add(
        `${name}: ${variant.name} peak RSS`,
        'MiB',
        pairs.map((r) => r.dlt.peakRssBytes / MIB),
      );
      const speedup = add(
        `${name}: ${variant.name} wall / changefeed wall`,
        'x',
        pairs.map((r) => r.dlt.wallMs / r.cf.wallMs),
      );
      const memory = add(
        `${name}: changefeed RSS / ${variant.name} RSS`,
        'x',
        pairs.map((r) => r.cf.report.maxRssBytes / r.dlt.peakRssBytes),
      );
      if (phase === 'cold' && variant.format === 'parquet') {
        targets.push(target(`cold start: changefeed ≥ 2× faster than ${variant.name} (wall ≤ ½)`, speedup, 2, 'min'));
      }
      if (phase === 'churn') {
        targets.push(target(`10% churn cycle ≥ 5× faster than ${variant.name} scd2`, speedup, 5, 'min'));
        targets.push(target(`10% churn cycle ≤ ½ of ${variant.name} peak RSS`, memory, 0.5, 'max'));
      }
    }
    const where = cf.map((p) => p.report.poll);
    for (const step of ['fetchMs', 'diffMs', 'pendingMs', 'publishMs', 'commitMs'] as const) {
      add(
        `${name}: changefeed poll, ${step.replace('Ms', '')}`,
        'ms',
        where.map((w) => w[step] ?? 0),
      );
    }
    add(
      `${name}: changefeed delivery after the poll (bus → loader → DuckDB)`,
      'ms',
      cf.map((p) => p.report.cycleMs - (p.report.poll['durationMs'] ?? 0)),
    );
  }
  if (context.apiPeakRss !== null)
    figures.push({ label: 'demo API peak RSS (shared by both)', value: context.apiPeakRss / MIB, unit: 'MiB' });
  const last = results.at(-1);
  const counts = last === undefined ? '' : describe(last.cf.churn.report.counts);
  return {
    id: 'e2e',
    title: 'End to end, local mode, against dlt (scd2 into DuckDB)',
    figures,
    targets,
    notes: [
      `${context.n.toLocaleString('en')} carts from the demo API (cursor pages of ${PAGE_SIZE}), then ${context.churn.toLocaleString('en')} mutations: ${counts}; both tools found the same counts in every run`,
      `each phase is a fresh process; changefeed's poll → visible is timed inside it, wall times are spawn to exit for both tools`,
      context.dltVersion === undefined
        ? 'dlt not run (--no-dlt)'
        : `dlt ${context.dltVersion} with DuckDB, REST API source, merge strategy scd2`,
      `median of ${context.runs} run(s) after a warm-up at a tenth of the size`,
    ],
  };
}
