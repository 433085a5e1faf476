import { mkdtemp, mkdir, rename, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import type { BenchOptions, SectionResult } from './bench-types';
import { benchCurrentState } from './current-state';
import { benchColdStartMemory } from './cold-start-memory';
import { benchDelivery } from './delivery';
import { benchDiffEngine } from './diff-engine';
import { benchIndexMemory } from './index-memory';
import { benchLoaderPush } from './loader-push';
import { benchEndToEnd } from './local-e2e';
import { REPO_ROOT } from './measure';
import { benchPubSubDelivery } from './pubsub-delivery';
import { renderMarkdown, renderText, type BenchRun } from './render-results';

const SECTIONS = ['diff', 'loader', 'delivery', 'index', 'current', 'e2e', 'memory', 'pubsub'] as const;
type SectionId = (typeof SECTIONS)[number];

const USAGE = `npm run bench -- [--only diff,loader,delivery,index,current,e2e,memory,pubsub] [--runs N] [--quick] [--no-dlt] [--out DIR]

  --only     sections to run (default: all; pubsub needs the gcloud Pub/Sub emulator, or PUBSUB_EMULATOR_HOST)
  --runs     measured runs per figure, after one warm-up (default 5; the end-to-end, index and
             pubsub sections take at most 3, memory one per size)
  --quick    small sizes, to check the benchmarks work; figures are not comparable
  --no-dlt   skip the dlt peer (no Python needed)
  --out      where latest.md and latest.json go (default bench/results; --quick defaults to a temporary directory)`;

interface Flags {
  readonly only: SectionId[];
  readonly runs: number;
  readonly quick: boolean;
  readonly withDlt: boolean;
  readonly out: string | undefined;
}

function parseFlags(argv: readonly string[]): Flags | 'help' {
  const { values } = parseArgs({
    args: [...argv],
    options: {
      only: { type: 'string' },
      runs: { type: 'string' },
      quick: { type: 'boolean', default: false },
      'no-dlt': { type: 'boolean', default: false },
      out: { type: 'string' },
      help: { type: 'boolean', default: false },
    },
    strict: true,
  });
  if (values.help) return 'help';
  const only = (values.only ?? SECTIONS.join(',')).split(',').map((s) => s.trim());
  for (const id of only) {
    if (!(SECTIONS as readonly string[]).includes(id))
      throw new UsageError(`--only: unknown section "${id}"; expected ${SECTIONS.join(', ')}`);
  }
  const runs = values.runs === undefined ? 5 : Number(values.runs);
  if (!Number.isInteger(runs) || runs < 1 || runs > 100)
    throw new UsageError(`--runs: expected a whole number 1..100, got "${values.runs}"`);
  return { only: only as SectionId[], runs, quick: values.quick, withDlt: !values['no-dlt'], out: values.out };
}

class UsageError extends Error {}

async function main(): Promise<void> {
  let flags: Flags | 'help';
  try {
    flags = parseFlags(process.argv.slice(2));
    if (flags === 'help') {
      process.stdout.write(`${USAGE}\n`);
      return;
    }
  } catch (e: unknown) {
    process.stderr.write(`${e instanceof Error ? e.message : String(e)}\n\n${USAGE}\n`);
    process.exitCode = 2;
    return;
  }
  const workDir = await mkdtemp(path.join(os.tmpdir(), 'changefeed-bench-'));
  const log = (line: string): void => void process.stderr.write(`${line}\n`);
  const options: BenchOptions = { runs: flags.runs, quick: flags.quick, log, workDir };
  const startedAt = new Date().toISOString();
  const sections: SectionResult[] = [];
  try {
    for (const id of flags.only) {
      log(`-- ${id}`);
      sections.push(await runSection(id, options, flags));
    }
  } finally {
    await rm(workDir, { recursive: true, force: true });
  }
  const run: BenchRun = {
    startedAt,
    machine: `${os.cpus().length} × ${os.cpus()[0]?.model.trim() ?? 'unknown CPU'}, ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB, ${os.platform()} ${os.release()}`,
    node: process.version,
    options: { runs: flags.runs, quick: flags.quick, only: flags.only },
    sections,
  };
  process.stdout.write(`${renderText(run)}\n`);
  const out =
    flags.out ??
    (flags.quick ? path.join(os.tmpdir(), 'changefeed-bench-quick') : path.join(REPO_ROOT, 'bench', 'results'));
  await mkdir(out, { recursive: true });
  await writeAtomically(path.join(out, 'latest.md'), renderMarkdown(run));
  await writeAtomically(path.join(out, 'latest.json'), `${JSON.stringify(run, null, 2)}\n`);
  log(`results: ${path.join(out, 'latest.md')} and latest.json`);
  if (sections.some((s) => s.targets.some((t) => !t.met))) log('some targets were missed: see the table');
}

function runSection(id: SectionId, options: BenchOptions, flags: Flags): Promise<SectionResult> {
  switch (id) {
    case 'diff':
      return benchDiffEngine(options);
    case 'loader':
      return benchLoaderPush(options);
    case 'delivery':
      return benchDelivery(options);
    case 'index':
      return benchIndexMemory(options);
    case 'current':
      return benchCurrentState(options);
    case 'e2e':
      return benchEndToEnd({ ...options, withDlt: flags.withDlt });
    case 'memory':
      return benchColdStartMemory(options);
    case 'pubsub':
      return benchPubSubDelivery(options);
  }
}

/** A half-written results file must never replace the last good one. */
async function writeAtomically(file: string, text: string): Promise<void> {
  await writeFile(`${file}.tmp`, text);
  await rename(`${file}.tmp`, file);
}

main().catch((e: unknown) => {
  process.stderr.write(`bench failed: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
  process.exitCode = 1;
});
