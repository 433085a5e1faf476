import { rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { target, type BenchOptions, type Figure, type SectionResult } from './bench-types';
import { DemoApiProcess } from './demo-api-process';
import type { LocalCycleReport } from './local-cycle-child';
import { demoCartsConfigYaml, PAGE_SIZE } from './local-e2e';
import { childScript, runNodeChild } from './measure';

const SEED = 7;
const MIB = 1024 * 1024;
const GIB = 1024 * MIB;

/**
 * Peak RSS of a local cold start (`changefeed run --once` on an empty data directory: poll,
 * publish, deliver, warehouse) at three sizes of the demo API, each in a fresh process. What must
 * not happen is memory growing with the changes of the cycle: the poller publishes each group as
 * its pages arrive, so only the snapshot index and the warehouse's caches grow with the entities.
 * One run per size: peak RSS barely varies between runs, and the 1M cold start takes minutes.
 */
export async function benchColdStartMemory(options: BenchOptions): Promise<SectionResult> {
  const sizes = options.quick ? [2_000, 6_000, 20_000] : [100_000, 300_000, 1_000_000];
  const api = await DemoApiProcess.start({ carts: sizes[0] ?? 0, seed: SEED });
  const configFile = path.join(options.workDir, 'memory.yaml');
  await writeFile(configFile, demoCartsConfigYaml(api.url));
  const reports: { readonly n: number; readonly report: LocalCycleReport; readonly wallMs: number }[] = [];
  try {
    for (const n of sizes) {
      await api.reset(n);
      const dataDir = path.join(options.workDir, `memory-${n}`);
      await rm(dataDir, { recursive: true, force: true });
      const { result, wallMs } = await runNodeChild<LocalCycleReport>(
        childScript('local-cycle-child'),
        ['--config', configFile, '--data-dir', dataDir],
        { log: options.log },
      );
      if (result.currentRows !== n || result.delivered !== n) {
        throw new Error(
          `memory: cold start of ${n} carts delivered ${result.delivered}, _current has ${result.currentRows}`,
        );
      }
      options.log(
        `memory: ${n} carts: peak RSS ${(result.maxRssBytes / MIB).toFixed(0)} MiB in ${(wallMs / 1000).toFixed(1)} s`,
      );
      reports.push({ n, report: result, wallMs });
      // The warehouse of 1M carts is about a gigabyte: keep the disk free for the next size.
      await rm(dataDir, { recursive: true, force: true });
    }
  } finally {
    await api.stop();
  }
  const first = reports[0];
  const last = reports[reports.length - 1];
  if (first === undefined || last === undefined) throw new Error('memory: no size was measured');
  const label = (n: number): string => n.toLocaleString('en');
  const growth = last.report.maxRssBytes / first.report.maxRssBytes;
  const figures: Figure[] = reports.flatMap(({ n, report, wallMs }) => stageFigures(label(n), report, wallMs));
  figures.push({ label: `peak RSS ${label(last.n)} / ${label(first.n)}`, value: growth, unit: 'x' });
  return {
    id: 'memory',
    title: 'Cold-start memory',
    figures,
    targets: [
      target(`cold start of ${label(last.n)}: peak RSS ≤ 1 GiB`, last.report.maxRssBytes / GIB, 1, 'max', 'GiB'),
      target(`peak RSS at ${label(last.n)} ≤ 1.5× peak RSS at ${label(first.n)}`, growth, 1.5, 'max'),
    ],
    notes: [
      `demo API carts (about 470 B each), pages of ${PAGE_SIZE} by cursor; each size a fresh process on an empty data directory, one run`,
      'the poll stages overlap: groups are published while the next pages are fetched',
    ],
  };
}

function stageFigures(n: string, report: LocalCycleReport, wallMs: number): Figure[] {
  const stage = (key: string): number => report.poll[key] ?? 0;
  return [
    { label: `peak RSS, cold start of ${n}`, value: report.maxRssBytes / MIB, unit: 'MiB' },
    { label: `  wall time (${n})`, value: wallMs, unit: 'ms' },
    { label: `  poll stages (${n}): fetch`, value: stage('fetchMs'), unit: 'ms' },
    { label: `  poll stages (${n}): diff`, value: stage('diffMs'), unit: 'ms' },
    {
      label: `  poll stages (${n}): pending + publish + commit`,
      value: stage('pendingMs') + stage('publishMs') + stage('commitMs'),
      unit: 'ms',
    },
  ];
}
