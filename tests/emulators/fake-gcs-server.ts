import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import path from 'node:path';
import type { EmulatorSpec } from './start-emulator';

/** Keep in step with FAKE_GCS_SERVER_VERSION in install-fake-gcs-server.sh. */
const FAKE_GCS_SERVER_VERSION = 'v1.56.1';

const INSTALL_SCRIPT = path.join(__dirname, 'install-fake-gcs-server.sh');

const INSTALL_HINT =
  'Run `bash tests/emulators/install-fake-gcs-server.sh` (builds fake-gcs-server from the Go module proxy into a cache; needs Go 1.24+), ' +
  'set FAKE_GCS_SERVER_BIN to its binary, or point STORAGE_EMULATOR_HOST at an emulator you started yourself.';

/** Where install-fake-gcs-server.sh puts the binary; mirrors its cache directory rule. */
export function fakeGcsServerBinary(env: NodeJS.ProcessEnv = process.env): string {
  const fromEnv = nonEmpty(env['FAKE_GCS_SERVER_BIN']);
  if (fromEnv !== undefined) return fromEnv;
  const cacheRoot =
    nonEmpty(env['CHANGEFEED_CACHE_DIR']) ??
    path.join(nonEmpty(env['XDG_CACHE_HOME']) ?? path.join(homedir(), '.cache'), 'changefeed');
  return path.join(cacheRoot, `fake-gcs-server-${FAKE_GCS_SERVER_VERSION}`, 'bin', 'fake-gcs-server');
}

/**
 * Runs install-fake-gcs-server.sh unless its stamp says the cache holds a complete build, so that
 * `npx jest <a gcp test>` on a fresh clone builds the emulator as `npm test` does. Does nothing
 * when FAKE_GCS_SERVER_BIN names a binary of the user's own.
 */
export async function installFakeGcsServerIfMissing(env: NodeJS.ProcessEnv = process.env): Promise<void> {
  if (nonEmpty(env['FAKE_GCS_SERVER_BIN']) !== undefined) return;
  const stamp = path.resolve(fakeGcsServerBinary(env), '..', '..', '.installed');
  if (existsSync(stamp)) return;
  const code = await new Promise<number | null>((resolve, reject) => {
    // Its progress goes to the terminal: a first build downloads modules and compiles for a minute.
    const child = spawn('bash', [INSTALL_SCRIPT], { stdio: ['ignore', 'inherit', 'inherit'], env });
    child.once('error', reject);
    child.once('exit', resolve);
  });
  if (code !== 0)
    throw new Error(`Could not install the Cloud Storage emulator (exit ${String(code)}, see above). ${INSTALL_HINT}`);
}

/**
 * fake-gcs-server: the Cloud Storage JSON API (and the uploads and downloads the Node client
 * makes) over plain HTTP on loopback, in memory, so every run starts with no buckets. The upload
 * URL it hands out for resumable uploads is its own address (`-external-url`).
 */
export function fakeGcsServer(env: NodeJS.ProcessEnv = process.env): EmulatorSpec {
  return {
    name: 'Cloud Storage',
    command: fakeGcsServerBinary(env),
    args: (port) => [
      '-scheme',
      'http',
      '-host',
      '127.0.0.1',
      '-port',
      String(port),
      '-external-url',
      `http://127.0.0.1:${port}`,
      '-public-host',
      `127.0.0.1:${port}`,
      '-backend',
      'memory',
      '-log-level',
      'warn',
    ],
    installHint: INSTALL_HINT,
  };
}

/**
 * STORAGE_EMULATOR_HOST as a URL, the form fake-gcs-server documents and the Go and Python
 * clients take (createStorageClient takes `host:port` too). The Node client alone would use it
 * verbatim as its JSON API base URL, which lacks `/storage/v1`: createStorageClient sets that.
 */
export function storageEmulatorHost(hostPort: string): string {
  return `http://${hostPort}`;
}

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value === '' ? undefined : value;
}
