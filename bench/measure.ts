import { spawn } from 'node:child_process';
import path from 'node:path';

/**
 * Child processes always run the compiled scripts in bench/dist, also when a test imports these
 * modules from their TypeScript sources.
 */
export const BENCH_DIST = path.basename(__dirname) === 'dist' ? __dirname : path.join(__dirname, 'dist');
export const REPO_ROOT = path.resolve(BENCH_DIST, '..', '..');

/** The compiled child script `name` (e.g. "local-cycle-child"). */
export function childScript(name: string): string {
  return path.join(BENCH_DIST, `${name}.js`);
}

export function median(samples: readonly number[]): number {
  if (samples.length === 0) throw new Error('median of no samples');
  const sorted = [...samples].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1
    ? (sorted[mid] as number)
    : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
}

/** Milliseconds since `start` (a `process.hrtime.bigint()` reading). */
export function elapsedMs(start: bigint): number {
  return Number(process.hrtime.bigint() - start) / 1e6;
}

/**
 * Runs `measure` once as a warm-up and then `runs` times, returning the measured results. The
 * warm-up lets the JIT compile the hot paths and the OS fill its caches, as in a long-running
 * service.
 */
export async function repeat<T>(runs: number, measure: (run: number) => Promise<T> | T): Promise<T[]> {
  await measure(-1);
  const results: T[] = [];
  for (let run = 0; run < runs; run++) results.push(await measure(run));
  return results;
}

export interface ChildResult<T> {
  readonly result: T;
  readonly wallMs: number;
}

/**
 * Runs a Node script of this folder in a child process and returns the JSON object it printed as
 * its last stdout line. Benchmarks that measure memory or a whole service run in their own process,
 * so one benchmark's heap cannot inflate the next one's figures.
 */
export async function runNodeChild<T>(
  script: string,
  args: readonly string[],
  options: {
    readonly nodeArgs?: readonly string[];
    readonly env?: NodeJS.ProcessEnv;
    readonly log?: (line: string) => void;
  } = {},
): Promise<ChildResult<T>> {
  const start = process.hrtime.bigint();
  const child = spawn(process.execPath, [...(options.nodeArgs ?? []), script, ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: options.env ?? process.env,
  });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
    stderr += chunk;
    if (stderr.length > 64 * 1024) stderr = stderr.slice(-32 * 1024);
  });
  const code = await new Promise<number | null>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', resolve);
  });
  const wallMs = elapsedMs(start);
  if (code !== 0) {
    throw new Error(`${script} ${args.join(' ')} exited with ${String(code)}:\n${stderr.slice(-4000)}`);
  }
  const last = stdout.trim().split('\n').pop() ?? '';
  try {
    return { result: JSON.parse(last) as T, wallMs };
  } catch {
    throw new Error(`${script} printed no JSON result; its last line was: ${last.slice(0, 500)}`);
  }
}
