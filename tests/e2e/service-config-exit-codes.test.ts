import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';

/*
 * The Cloud Run entry points exit 2 for a config that cannot work, as the CLI does, with one JSON
 * line saying why; all of these fail before any client is made, so no emulator is needed.
 */

const ROOT = path.resolve(__dirname, '..', '..');

interface Exit {
  readonly code: number | null;
  readonly stderr: string;
}

function runMain(service: 'poller' | 'loader' | 'batch', env: Record<string, string>): Promise<Exit> {
  const main = path.join(ROOT, 'services', service, 'dist', 'main.js');
  if (!existsSync(main)) throw new Error(`services/${service}/dist is missing: run "npm run build" (npm test does it)`);
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [main], {
      env: { PATH: process.env['PATH'] ?? '', PORT: '8080', ...env },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stderr }));
  });
}

/** The one JSON line a main prints when it cannot start. */
function fatalLine(stderr: string): { severity?: unknown; message?: unknown } {
  const lines = stderr.split('\n').filter((l) => l.trim() !== '');
  expect(lines).toHaveLength(1);
  return JSON.parse(lines[0] ?? '') as { severity?: unknown; message?: unknown };
}

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'changefeed-exit-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

const SOURCES = `sources:
  - name: carts
    mode: stream
    request: { url: "http://127.0.0.1:1/carts" }
    auth: { type: bearer, tokenEnv: CARTS_TOKEN }
    idField: id
    table: carts
  - name: rates
    mode: batch
    request: { url: "http://127.0.0.1:1/rates" }
    auth: { type: apiKey, name: X-Api-Key, valueEnv: RATES_KEY }
    idField: id
    table: rates
`;

describe('service entry points: config errors exit 2', () => {
  it('a config file that does not exist', async () => {
    const file = path.join(dir, 'nope.yaml');

    const r = await runMain('poller', { CHANGEFEED_CONFIG: file });

    expect(r.code).toBe(2);
    expect(fatalLine(r.stderr)).toMatchObject({
      severity: 'ERROR',
      message: `cannot start: cannot read config file ${file}: there is no such file`,
    });
  });

  it('no CHANGEFEED_CONFIG at all', async () => {
    const r = await runMain('loader', {});

    expect(r.code).toBe(2);
    expect(fatalLine(r.stderr).message).toContain('CHANGEFEED_CONFIG');
  });

  it("the poller: an unset variable of a stream source's auth, named with its place in the file", async () => {
    const file = path.join(dir, 'changefeed.yaml');
    await writeFile(file, `backend: gcp\ngcp: { projectId: my-project }\n${SOURCES}`);

    const r = await runMain('poller', { CHANGEFEED_CONFIG: file, RATES_KEY: 'k' });

    expect(r.code).toBe(2);
    expect(fatalLine(r.stderr).message).toContain(`${file}:7:37: sources[0].auth.tokenEnv: CARTS_TOKEN is not set`);
  });

  it("the batch job: an unset variable of a batch source's auth; the stream sources' are not its business", async () => {
    const file = path.join(dir, 'changefeed.yaml');
    await writeFile(file, `backend: gcp\ngcp: { projectId: my-project }\n${SOURCES}`);

    const r = await runMain('batch', { CHANGEFEED_CONFIG: file });

    expect(r.code).toBe(2);
    const message = String(fatalLine(r.stderr).message);
    expect(message).toContain('sources[1].auth.valueEnv: RATES_KEY is not set');
    expect(message).not.toContain('CARTS_TOKEN');
  });
});
