import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import path from 'node:path';
import type { EmulatorSpec } from './start-emulator';

/** Keep in step with BQEMULATOR_VERSION in install-bigquery-emulator.sh. */
const BQEMULATOR_VERSION = '1.4.0';

/** The project id the tests use; the emulator serves any, this one is its default. */
export const BIGQUERY_TEST_PROJECT = 'changefeed-test';

const INSTALL_SCRIPT = path.join(__dirname, 'install-bigquery-emulator.sh');

const INSTALL_HINT =
  'Run `bash tests/emulators/install-bigquery-emulator.sh` (installs bqemulator from PyPI into a cache; needs Python 3.11+ with venv), ' +
  'set BIGQUERY_EMULATOR_BIN to its launcher, or point BIGQUERY_EMULATOR_HOST (REST) and ' +
  'BIGQUERY_STORAGE_EMULATOR_HOST (Storage Write gRPC) at an emulator you started yourself.';

/** Where install-bigquery-emulator.sh puts the launcher; mirrors its cache directory rule. */
export function bigqueryEmulatorLauncher(env: NodeJS.ProcessEnv = process.env): string {
  const fromEnv = env['BIGQUERY_EMULATOR_BIN'];
  if (fromEnv !== undefined && fromEnv !== '') return fromEnv;
  const cacheRoot =
    nonEmpty(env['CHANGEFEED_CACHE_DIR']) ??
    path.join(nonEmpty(env['XDG_CACHE_HOME']) ?? path.join(homedir(), '.cache'), 'changefeed');
  return path.join(cacheRoot, `bigquery-emulator-${BQEMULATOR_VERSION}`, 'bin', 'bigquery-emulator');
}

/**
 * Runs install-bigquery-emulator.sh unless its stamp says the cache holds a complete install, so
 * that `npx jest <a BigQuery test>` on a fresh clone installs the emulator as `npm test` does
 * (the script is idempotent; this only spares its output when there is nothing to do). Does
 * nothing when BIGQUERY_EMULATOR_BIN names a launcher of the user's own.
 */
export async function installBigqueryEmulatorIfMissing(env: NodeJS.ProcessEnv = process.env): Promise<void> {
  if (nonEmpty(env['BIGQUERY_EMULATOR_BIN']) !== undefined) return;
  const stamp = path.resolve(bigqueryEmulatorLauncher(env), '..', '..', '.installed');
  if (existsSync(stamp)) return;
  const code = await new Promise<number | null>((resolve, reject) => {
    // Its progress goes to the terminal: a first install downloads from PyPI for a while.
    const child = spawn('bash', [INSTALL_SCRIPT], { stdio: ['ignore', 'inherit', 'inherit'], env });
    child.once('error', reject);
    child.once('exit', resolve);
  });
  if (code !== 0)
    throw new Error(`Could not install the BigQuery emulator (exit ${String(code)}, see above). ${INSTALL_HINT}`);
}

/**
 * Holds a `sitecustomize.py` that makes bqemulator run its Storage Write flushes on the thread
 * that serves REST: unpatched, an append that overlaps a query deadlocks the emulator for good
 * (see that file). On PYTHONPATH, Python loads it at start-up.
 */
export const BQEMULATOR_PATCH_DIR = path.join(__dirname, 'bqemulator-single-thread');

/**
 * bqemulator: one process serving the BigQuery REST API on the main port and the Storage
 * Write/Read gRPC API on the extra one, in memory (every run starts empty).
 */
export function bigqueryEmulator(env: NodeJS.ProcessEnv = process.env): EmulatorSpec {
  const pythonPath = nonEmpty(env['PYTHONPATH']);
  return {
    name: 'BigQuery',
    command: bigqueryEmulatorLauncher(env),
    args: (restPort, [grpcPort]) => [
      'start',
      '--rest-host=127.0.0.1',
      `--rest-port=${restPort}`,
      '--grpc-host=127.0.0.1',
      `--grpc-port=${grpcPort ?? 0}`,
      '--ephemeral',
      `--project=${BIGQUERY_TEST_PROJECT}`,
      '--log-level=warning',
      '--log-format=json',
    ],
    extraPorts: 1,
    installHint: INSTALL_HINT,
    env: {
      PYTHONPATH:
        pythonPath === undefined ? BQEMULATOR_PATCH_DIR : `${BQEMULATOR_PATCH_DIR}${path.delimiter}${pythonPath}`,
    },
  };
}

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value === '' ? undefined : value;
}
