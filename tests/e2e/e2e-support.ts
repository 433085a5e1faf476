import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { DuckDbWarehouse } from '@changefeed/shared/adapters/local';
import { systemClock } from '@changefeed/shared/ports';
import { runCli, type CliContext, type ExitCode } from '@changefeed/cli';
import { startDemoApi, type RunningDemoApi } from '@changefeed/demo-api';

export interface Captured {
  readonly stream: Writable;
  text(): string;
}

export function capture(): Captured {
  const chunks: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer | string, _enc, cb) {
      chunks.push(chunk.toString());
      cb();
    },
  });
  return { stream, text: () => chunks.join('') };
}

export interface CliResult {
  readonly code: ExitCode;
  readonly stdout: string;
  readonly stderr: string;
}

/** The objects of `--json` output, one per line. */
export function jsonLines(text: string): Record<string, unknown>[] {
  return text
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

/** Runs the CLI in-process in `cwd`, with no environment unless `extra` brings one, and captures its output. */
export async function cliIn(cwd: string, args: readonly string[], extra: Partial<CliContext> = {}): Promise<CliResult> {
  const out = capture();
  const err = capture();
  const code = await runCli(args, {
    stdout: out.stream,
    stderr: err.stream,
    env: {},
    cwd,
    signal: new AbortController().signal,
    clock: systemClock,
    exampleConfig: path.join(cwd, 'none.yaml'),
    ...extra,
  });
  return { code, stdout: out.text(), stderr: err.text() };
}

/** A demo API, a config pointing at it, and a data dir: one local installation. */
export interface Sandbox {
  readonly dir: string;
  readonly dataDir: string;
  readonly configFile: string;
  readonly api: RunningDemoApi;
  cli(args: readonly string[], extra?: Partial<CliContext>): Promise<CliResult>;
  /** Rows of a query on the warehouse, opened read-only (nothing may be running). */
  query(sql: string): Promise<Record<string, unknown>[]>;
  close(): Promise<void>;
}

export interface SandboxOptions {
  readonly carts?: number;
  /** Extra YAML appended under the top level (e.g. poller settings). */
  readonly extraYaml?: string;
  /** How the local bus hands messages to the loader (`bus.delivery`); the default's when absent. */
  readonly delivery?: 'batch' | 'push';
  /** Random cart changes per second the demo API makes from the start (its mutator); 0 when absent. */
  readonly changesPerSecond?: number;
  /** The demo API's seed (its carts and the mutator's changes); 7 when absent. */
  readonly seed?: number;
  /** The carts source's `pollInterval` (e.g. `200ms`); the default's when absent. */
  readonly pollInterval?: string;
}

export async function sandbox(options: SandboxOptions = {}): Promise<Sandbox> {
  const dir = await mkdtemp(path.join(tmpdir(), 'changefeed-e2e-'));
  const api = await startDemoApi({
    port: 0,
    carts: options.carts ?? 12,
    changesPerSecond: options.changesPerSecond ?? 0,
    seed: options.seed ?? 7,
  });
  const configFile = path.join(dir, 'changefeed.yaml');
  await writeFile(configFile, configYaml(api.url, options.extraYaml ?? '', options.delivery, options.pollInterval));
  const dataDir = path.join(dir, 'data');
  return {
    dir,
    dataDir,
    configFile,
    api,
    cli: (args, extra = {}) => cliIn(dir, args, extra),
    async query(sql) {
      const warehouse = await DuckDbWarehouse.open(path.join(dataDir, 'warehouse.duckdb'), { readOnly: true });
      try {
        return await warehouse.query(sql);
      } finally {
        await warehouse.close();
      }
    },
    async close() {
      await api.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** Small page size so every cycle crosses pages; short backoffs and lease so tests stay quick. */
export function configYaml(apiUrl: string, extra: string, delivery?: 'batch' | 'push', pollInterval?: string): string {
  return `backend: local
sources:
  - name: carts
    mode: stream
${pollInterval === undefined ? '' : `    pollInterval: ${pollInterval}\n`}    request:
      url: ${apiUrl}/carts
      recordsPath: carts
      pagination: { type: offset, limit: 5 }
      timeout: 5s
      minBackoff: 10ms
      maxBackoff: 50ms
    idField: id
    table: carts
  - name: users
    mode: batch
    request:
      url: ${apiUrl}/users
      recordsPath: users
    idField: id
    table: users
  - name: products
    mode: batch
    request:
      url: ${apiUrl}/products
    idField: id
    table: products
    incremental: { cursorField: updatedAt, cursorParam: updatedSince }
loader:
  port: 0
bus:
  minBackoff: 20ms
  maxBackoff: 100ms
  maxDeliveryAttempts: 3
${delivery === undefined ? '' : `  delivery: ${delivery}\n`}${extra}`;
}

const ROOT = path.resolve(__dirname, '..', '..');
const BIN = path.join(ROOT, 'bin', 'changefeed.js');

export interface ProcessExit {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** The real `changefeed` binary in its own process, so it can really be killed. */
export function changefeed(
  args: readonly string[],
  options: { env?: Record<string, string>; onStdout?: (text: string, kill: (s: NodeJS.Signals) => void) => void } = {},
): Promise<ProcessExit> {
  if (!existsSync(path.join(ROOT, 'services', 'cli', 'dist', 'main.js'))) {
    throw new Error('services/cli/dist is missing: run "npm run build" (npm test does it) before the e2e tests');
  }
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], {
      cwd: ROOT,
      env: { PATH: process.env['PATH'] ?? '', ...options.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString();
      options.onStdout?.(stdout, (s) => child.kill(s));
    });
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
}

/** `carts_current` holds exactly the carts the demo API holds now, record for record. */
export async function expectExactlyTheApiState(s: Sandbox): Promise<void> {
  const current = await s.query('select entity_id, data from carts_current order by cast(entity_id as integer)');
  const carts = s.api.store.allCarts();
  expect(current.map((r) => r['entity_id'])).toEqual(carts.map((c) => String(c.id)));
  expect(current.map((r) => r['data'])).toEqual(carts);
}
