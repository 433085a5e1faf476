import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { BenchOptions, SectionResult } from '../../bench/bench-types';
import { benchColdStartMemory } from '../../bench/cold-start-memory';
import { benchCurrentState } from '../../bench/current-state';
import { benchDelivery } from '../../bench/delivery';
import { benchDiffEngine } from '../../bench/diff-engine';
import { benchIndexMemory } from '../../bench/index-memory';
import { benchLoaderPush } from '../../bench/loader-push';
import { benchEndToEnd } from '../../bench/local-e2e';
import { benchPubSubDelivery } from '../../bench/pubsub-delivery';
import { renderMarkdown } from '../../bench/render-results';

/**
 * Keeps the benchmarks from rotting: each section runs at tiny sizes, once, and must produce its
 * figures and check its own answers (the diff's counts, the end-to-end row counts). No figure is
 * compared with a bound here: on shared machines timings say nothing in a test.
 */
describe('npm run bench, smoke run (--quick)', () => {
  let workDir: string;
  let options: BenchOptions;
  beforeAll(() => {
    workDir = mkdtempSync(path.join(os.tmpdir(), 'changefeed-bench-test-'));
    options = { runs: 1, quick: true, log: () => undefined, workDir };
  });
  afterAll(() => rmSync(workDir, { recursive: true, force: true }));

  function expectWellFormed(section: SectionResult): void {
    expect(section.figures.length).toBeGreaterThan(0);
    for (const figure of section.figures) expect(Number.isFinite(figure.value)).toBe(true);
    for (const t of section.targets) expect(t.met).toBe(t.kind === 'max' ? t.value <= t.bound : t.value >= t.bound);
  }

  it('diff engine: hashes and diffs with the poller code and finds the planted changes', async () => {
    const section = await benchDiffEngine(options);
    expectWellFormed(section);
    expect(section.targets.map((t) => t.label)).toEqual(['hash + diff ≤ 1× JSON.parse of the same payload']);
    expect(
      renderMarkdown({
        startedAt: 'now',
        machine: 'm',
        node: 'v',
        options: { runs: 1, quick: true, only: ['diff'] },
        sections: [section],
      }),
    ).toContain('| hash + diff ≤ 1× JSON.parse');
  });

  it('snapshot index: measures the loaded index in a child process', async () => {
    const section = await benchIndexMemory(options);
    expectWellFormed(section);
    expect(section.figures[0]?.unit).toBe('B/entity');
    expect(section.figures[0]?.value).toBeGreaterThan(0);
  }, 60_000);

  it('cold-start memory: runs the local pipeline at three sizes and checks every cart landed', async () => {
    const section = await benchColdStartMemory(options);
    expectWellFormed(section);
    expect(section.figures.filter((f) => f.label.startsWith('peak RSS, cold start of'))).toHaveLength(3);
    expect(section.targets).toHaveLength(2);
  }, 180_000);

  it('loader under push load: drives the loader and the no-op handler with the same generator', async () => {
    const section = await benchLoaderPush(options);
    expectWellFormed(section);
  }, 120_000);

  it('end to end (without dlt): cold start and churn cycle, with carts_current checked against the API', async () => {
    const section = await benchEndToEnd({ ...options, withDlt: false });
    expectWellFormed(section);
    expect(section.figures.map((f) => f.label)).toContain('10% churn cycle: changefeed, poll start → last row visible');
  }, 120_000);

  it('delivery: the bus delivers every message in batches into DuckDB, checked against the rows it holds', async () => {
    const section = await benchDelivery(options);
    expectWellFormed(section);
    expect(section.targets.map((t) => t.label)).toEqual([
      'delivery ≥ 50,000 events/s',
      'delivery ≥ 0.3× the bare DuckDB appender',
    ]);
  }, 120_000);

  it('current state: the maintained table and the old view agree on the entity count at each history size', async () => {
    const section = await benchCurrentState(options);
    expectWellFormed(section);
    expect(section.targets.map((t) => t.label)).toEqual([
      'carts_current count + sum: 30× history ≤ 1.5× the time at 1×',
      'carts_current point lookup: 30× history ≤ 1.5× the time at 1×',
      'append + _current upsert ≤ 1.5× the append alone (batches of 500)',
    ]);
  }, 120_000);

  it('pubsub delivery: the emulator delivers every message by pull and by push into DuckDB, checked against the rows', async () => {
    // tests/global-setup.ts points PUBSUB_EMULATOR_HOST at its emulator, which the section then uses.
    const section = await benchPubSubDelivery(options);
    expect(section.skipped).toBeUndefined();
    expectWellFormed(section);
    expect(section.targets.map((t) => t.label)).toEqual(['pull ≥ 10× push messages/s into DuckDB (Pub/Sub emulator)']);
    expect(section.figures.map((f) => f.label)).toEqual(
      expect.arrayContaining(['pull rate', 'push rate', 'pull / push']),
    );
  }, 120_000);

  it('a skipped section says why, in the targets table and in its own, with no figure', () => {
    const markdown = renderMarkdown({
      startedAt: 'now',
      machine: 'm',
      node: 'v',
      options: { runs: 1, quick: true, only: ['pubsub'] },
      sections: [{ id: 'pubsub', title: 'Pub/Sub', figures: [], targets: [], notes: [], skipped: 'no emulator' }],
    });
    expect(markdown).toContain('| Pub/Sub | skipped | — |');
    expect(markdown).toContain('Skipped: no emulator');
    expect(markdown).not.toContain('| figure | median |');
  });

  it('rejects an unknown section with a usage message and exit code 2', () => {
    const run = spawnSync(process.execPath, [path.join(__dirname, '../../bench/dist/run-bench.js'), '--only', 'nope'], {
      encoding: 'utf8',
    });
    expect(run.status).toBe(2);
    expect(run.stderr).toContain('--only: unknown section "nope"');
  });
});
