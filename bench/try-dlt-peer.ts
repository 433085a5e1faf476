import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { prepareDlt, type DltPhaseOptions, type DltPhaseResult } from './dlt-peer';

/*
 * Tries the dlt peer by hand and checks its counts against the truth:
 *
 *   node bench/dist/try-dlt-peer.js [--carts 100000] [--mutations 10000] [--cycles 1] [--format parquet] [--port 18791]
 *
 * Starts the demo API, runs dlt cold, then `cycles` times applies the mutations and runs dlt again,
 * and compares what dlt counted in each phase with the difference of /admin/state before and
 * after. More than one cycle also brings back ids that an earlier cycle deleted. Exits 1 on a
 * mismatch. Not a test: it needs python3 and PyPI, which CI must not depend on.
 */

interface Counts {
  created: number;
  updated: number;
  deleted: number;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      carts: { type: 'string', default: '100000' },
      mutations: { type: 'string' },
      cycles: { type: 'string', default: '1' },
      format: { type: 'string' },
      port: { type: 'string', default: '18791' },
    },
  });
  const carts = Number(values.carts);
  const mutations = values.mutations === undefined ? Math.round(carts / 10) : Number(values.mutations);
  const cycles = Number(values.cycles);
  const format = values.format;
  if (format !== undefined && format !== 'insert_values' && format !== 'parquet') {
    throw new Error(`--format: expected insert_values or parquet, got "${format}"`);
  }
  const apiUrl = `http://127.0.0.1:${values.port}`;
  const log = (line: string): void => void process.stderr.write(`${line}\n`);

  const peer = await prepareDlt(log);
  log(`dlt ${peer.version}`);
  const api = startDemoApi(values.port, carts);
  const workDir = await mkdtemp(path.join(tmpdir(), 'dlt-peer-'));
  try {
    await waitForApi(apiUrl);
    await post(apiUrl, '/admin/reset', { carts, seed: 7 });

    const phase: DltPhaseOptions = { apiUrl, workDir, ...(format === undefined ? {} : { loaderFileFormat: format }) };
    let before = await cartsById(apiUrl);
    const cold = await peer.runPhase(phase);
    const coldTruth = diff(new Map(), before);
    log(`cold:    ${describe(cold)}; truth ${JSON.stringify(coldTruth)}`);
    let ok = sameCounts(cold.counts, coldTruth) && cold.rows === before.size;

    const churns: { result: DltPhaseResult; truth: Counts }[] = [];
    for (let cycle = 1; cycle <= cycles; cycle++) {
      await post(apiUrl, '/admin/mutate', { count: mutations });
      const after = await cartsById(apiUrl);
      const result = await peer.runPhase(phase);
      const truth = diff(before, after);
      log(`churn ${cycle}: ${describe(result)}; truth ${JSON.stringify(truth)}`);
      ok &&= sameCounts(result.counts, truth) && result.rows === after.size;
      churns.push({ result, truth });
      before = after;
    }

    process.stdout.write(
      `${JSON.stringify({ dlt: peer.version, format: format ?? 'default', carts, mutations, cold, coldTruth, churns, ok })}\n`,
    );
    if (!ok) {
      log('MISMATCH: dlt counted something else than the true difference');
      process.exitCode = 1;
    }
  } finally {
    api.kill();
    await rm(workDir, { recursive: true, force: true });
  }
}

function startDemoApi(port: string, carts: number): ChildProcess {
  const bin = path.resolve(__dirname, '..', '..', 'bin', 'changefeed.js');
  const args = ['demo-api', '--port', port, '--carts', String(carts), '--changes-per-second', '0', '--seed', '7'];
  return spawn(process.execPath, [bin, ...args], { stdio: ['ignore', 'ignore', 'inherit'] });
}

async function waitForApi(apiUrl: string): Promise<void> {
  for (let attempt = 0; attempt < 100; attempt++) {
    try {
      if ((await fetch(`${apiUrl}/admin/stats`)).ok) return;
    } catch {
      // not listening yet
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`the demo API did not answer at ${apiUrl} within 10 s`);
}

async function post(apiUrl: string, route: string, body: unknown): Promise<void> {
  const response = await fetch(`${apiUrl}${route}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  if (!response.ok) throw new Error(`POST ${route}: HTTP ${response.status} ${await response.text()}`);
}

/** Every cart by id, as canonical JSON (keys sorted), so equal content compares equal. */
async function cartsById(apiUrl: string): Promise<Map<number, string>> {
  const response = await fetch(`${apiUrl}/admin/state`);
  if (!response.ok) throw new Error(`GET /admin/state: HTTP ${response.status}`);
  const state = (await response.json()) as { carts: { id: number }[] };
  return new Map(state.carts.map((cart) => [cart.id, canonical(cart)]));
}

function canonical(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) =>
    typeof v === 'object' && v !== null && !Array.isArray(v)
      ? Object.fromEntries(Object.entries(v).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
      : v,
  );
}

/** What changed between two snapshots, by id: the answer any change-detection tool must find. */
function diff(before: ReadonlyMap<number, string>, after: ReadonlyMap<number, string>): Counts {
  const counts: Counts = { created: 0, updated: 0, deleted: 0 };
  for (const [id, json] of after) {
    const old = before.get(id);
    if (old === undefined) counts.created++;
    else if (old !== json) counts.updated++;
  }
  for (const id of before.keys()) if (!after.has(id)) counts.deleted++;
  return counts;
}

function sameCounts(a: Counts, b: Counts): boolean {
  return a.created === b.created && a.updated === b.updated && a.deleted === b.deleted;
}

function describe(r: DltPhaseResult): string {
  const mib = (r.peakRssBytes / 2 ** 20).toFixed(0);
  const steps = Object.entries(r.stepsMs)
    .filter(([step]) => step !== 'run')
    .map(([step, ms]) => `${step} ${ms.toFixed(0)}`)
    .join(', ');
  return (
    `wall ${r.wallMs.toFixed(0)} ms (inner ${r.innerMs.toFixed(0)}, import ${r.importMs.toFixed(0)}, ` +
    `count ${r.countMs.toFixed(0)}; ${steps}), peak RSS ${mib} MiB, counts ${JSON.stringify(r.counts)}, rows ${r.rows}`
  );
}

main().catch((e: unknown) => {
  process.stderr.write(`${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
  process.exitCode = 1;
});
