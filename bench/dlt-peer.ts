import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import path from 'node:path';
import { elapsedMs } from './measure';

/*
 * The peer of the benchmarks: dlt (dlthub.com) with its REST API source and the scd2 merge
 * strategy into DuckDB, run by bench/peer/dlt_carts.py in a venv of its own, so Python never
 * becomes a dependency of changefeed and CI never installs dlt.
 */

export interface DltPhaseResult {
  /** The whole process, spawn to exit, measured from Node: interpreter start and imports included. */
  readonly wallMs: number;
  /** The script's own wall time: from the start of its main (after the imports) to its end. */
  readonly innerMs: number;
  /** Time the script took to import dlt. */
  readonly importMs: number;
  /** The part of innerMs spent counting the changes in DuckDB after the load (not dlt's own work). */
  readonly countMs: number;
  /** max(ru_maxrss) of the process and its children. */
  readonly peakRssBytes: number;
  /** The entities this load created, updated and deleted, read from the scd2 table. */
  readonly counts: { readonly created: number; readonly updated: number; readonly deleted: number };
  /** Current versions (valid_to NULL) after the load. */
  readonly rows: number;
  /** dlt's own steps (extract, normalize, load, and run around them), from its trace. */
  readonly stepsMs: Readonly<Record<string, number>>;
}

/**
 * The files dlt loads DuckDB from. Left out, dlt chooses (insert_values for DuckDB); parquet is
 * what dlt's docs advise for speed, and at 100,000 carts is ~6x faster and ~25x leaner.
 */
export type DltLoaderFileFormat = 'insert_values' | 'parquet';

export interface DltPhaseOptions {
  readonly apiUrl: string;
  readonly workDir: string;
  readonly loaderFileFormat?: DltLoaderFileFormat;
}

export interface DltPeer {
  /** dlt's version in the venv. */
  readonly version: string;
  /** One dlt run. The first on a workDir is a cold start; the next ones are cycles over its history. */
  runPhase(options: DltPhaseOptions): Promise<DltPhaseResult>;
}

const PEER_DIR = path.resolve(__dirname, '..', 'peer');
const REQUIREMENTS = path.join(PEER_DIR, 'requirements.txt');
const SCRIPT = path.join(PEER_DIR, 'dlt_carts.py');
/** Written last into a ready venv: what it was built from. */
const STAMP_FILE = '.changefeed-requirements.sha256';
/** dlt 1.31 installs on Python 3.10..3.14 (see requirements.txt). */
const MIN_PYTHON: readonly [number, number] = [3, 10];
const STDERR_TAIL = 4000;

/**
 * Makes the venv of the dlt peer (or reuses it when it was built from the same requirements.txt
 * with the same python3) at `${XDG_CACHE_HOME:-~/.cache}/changefeed/bench-venv`.
 */
export async function prepareDlt(log: (line: string) => void): Promise<DltPeer> {
  const venv = path.join(process.env['XDG_CACHE_HOME'] || path.join(homedir(), '.cache'), 'changefeed', 'bench-venv');
  const python = path.join(venv, 'bin', 'python');
  const pythonVersion = await systemPythonVersion();
  const stamp = createHash('sha256')
    .update(`${pythonVersion}\n`)
    .update(await readFile(REQUIREMENTS))
    .digest('hex');
  const stampPath = path.join(venv, STAMP_FILE);

  const current = existsSync(stampPath) ? (await readFile(stampPath, 'utf8')).trim() : undefined;
  if (current === stamp && existsSync(python)) {
    log(`dlt peer: reusing the venv at ${venv}`);
  } else {
    log(`dlt peer: making a venv at ${venv} with Python ${pythonVersion} and installing ${REQUIREMENTS}`);
    await rm(venv, { recursive: true, force: true });
    await mkdir(path.dirname(venv), { recursive: true });
    const made = await run('python3', ['-m', 'venv', venv]);
    if (made.code !== 0) {
      throw new Error(
        `python3 -m venv ${venv} failed (exit ${String(made.code)}); the venv module may be missing ` +
          `(Debian/Ubuntu: apt-get install python3-venv):\n${made.stderr}`,
      );
    }
    const pip = await run(python, ['-m', 'pip', 'install', '--disable-pip-version-check', '-r', REQUIREMENTS]);
    if (pip.code !== 0) {
      throw new Error(
        `pip could not install ${REQUIREMENTS} into ${venv} (exit ${String(pip.code)}); ` +
          `it needs PyPI (network or a configured index):\n${pip.stderr}`,
      );
    }
    await writeFile(stampPath, `${stamp}\n`);
    log(`dlt peer: venv ready (${(pip.wallMs / 1000).toFixed(0)} s of pip)`);
  }

  // importlib.metadata reads the installed version without paying for `import dlt`.
  const probe = await run(python, ['-c', 'import importlib.metadata as m; print(m.version("dlt"))']);
  const version = probe.stdout.trim();
  if (probe.code !== 0 || version === '') {
    throw new Error(`dlt is not importable from ${python}; delete ${venv} to rebuild it:\n${probe.stderr}`);
  }

  return {
    version,
    async runPhase({ apiUrl, workDir, loaderFileFormat }) {
      const format = loaderFileFormat === undefined ? [] : ['--loader-file-format', loaderFileFormat];
      const phase = await run(python, [SCRIPT, '--api', apiUrl, '--work-dir', workDir, ...format], {
        // Telemetry would send an event to dlthub per run; the script sets it too.
        RUNTIME__DLTHUB_TELEMETRY: 'false',
      });
      if (phase.code !== 0) {
        throw new Error(`dlt peer: ${SCRIPT} exited with ${String(phase.code)}:\n${phase.stderr}`);
      }
      return parsePhase(phase.stdout, phase.wallMs);
    },
  };
}

/** `python3 --version`'s number, after checking that dlt can run on it. */
async function systemPythonVersion(): Promise<string> {
  let probe: Ran;
  try {
    probe = await run('python3', ['-c', 'import sys; print("%d.%d.%d" % sys.version_info[:3])']);
  } catch (e) {
    throw new Error(
      `the dlt peer needs python3 (${MIN_PYTHON.join('.')} or newer) on the PATH: ${e instanceof Error ? e.message : String(e)}`,
    );
  }
  const version = probe.stdout.trim();
  const [major = 0, minor = 0] = version.split('.').map(Number);
  if (probe.code !== 0 || !/^\d+\.\d+\.\d+$/.test(version)) {
    throw new Error(`python3 did not tell its version (exit ${String(probe.code)}):\n${probe.stderr}`);
  }
  if (major < MIN_PYTHON[0] || (major === MIN_PYTHON[0] && minor < MIN_PYTHON[1])) {
    throw new Error(`the dlt peer needs Python ${MIN_PYTHON.join('.')} or newer; python3 is ${version}`);
  }
  return version;
}

function parsePhase(stdout: string, wallMs: number): DltPhaseResult {
  const last = stdout.trim().split('\n').pop() ?? '';
  let parsed: unknown;
  try {
    parsed = JSON.parse(last);
  } catch {
    throw new Error(`dlt peer: ${SCRIPT} printed no JSON result; its last line was: ${last.slice(0, 500)}`);
  }
  const bad = (what: string): Error =>
    new Error(`dlt peer: ${SCRIPT} printed ${what}; its last line was: ${last.slice(0, 500)}`);
  if (!isRecord(parsed)) throw bad('no JSON object');
  const counts = parsed['counts'];
  if (!isRecord(counts)) throw bad('no counts');
  const steps = parsed['stepsMs'];
  if (!isRecord(steps)) throw bad('no stepsMs');
  const number = (from: Record<string, unknown>, key: string): number => {
    const value = from[key];
    if (typeof value !== 'number' || !Number.isFinite(value)) throw bad(`no number for ${key}`);
    return value;
  };
  return {
    wallMs,
    innerMs: number(parsed, 'wallMs'),
    importMs: number(parsed, 'importMs'),
    countMs: number(parsed, 'countMs'),
    peakRssBytes: number(parsed, 'peakRssBytes'),
    counts: {
      created: number(counts, 'created'),
      updated: number(counts, 'updated'),
      deleted: number(counts, 'deleted'),
    },
    rows: number(parsed, 'rows'),
    stepsMs: Object.fromEntries(Object.keys(steps).map((step) => [step, number(steps, step)])),
  };
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

interface Ran {
  readonly code: number | null;
  readonly stdout: string;
  /** The last few KB: enough for a traceback or pip's reason. */
  readonly stderr: string;
  readonly wallMs: number;
}

/** Runs a command to its end; rejects only when it cannot start (e.g. not on the PATH). */
async function run(command: string, args: readonly string[], env: NodeJS.ProcessEnv = {}): Promise<Ran> {
  const start = process.hrtime.bigint();
  const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
    stderr += chunk;
    if (stderr.length > 4 * STDERR_TAIL) stderr = stderr.slice(-STDERR_TAIL);
  });
  const code = await new Promise<number | null>((resolve, reject) => {
    child.on('error', (e) => reject(new Error(`cannot run ${command}: ${e.message}`)));
    child.on('close', resolve);
  });
  return { code, stdout, stderr: stderr.slice(-STDERR_TAIL), wallMs: elapsedMs(start) };
}
