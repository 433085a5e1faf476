import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { PubSub, type Message } from '@google-cloud/pubsub';
import { startDemoApi, type RunningDemoApi } from '@changefeed/demo-api';
import { freePort } from '../emulators/start-emulator';
import { changefeed } from './e2e-support';

/*
 * The README promises JSON lines. Pointed at the emulators, the Google libraries used to look for
 * credentials, probe the metadata server and print `MetadataLookupWarning: received unexpected
 * error` as plain text on stderr. The setups export METADATA_SERVER_DETECTION=none, which hides
 * that, so these processes run without it: what they print must be JSON lines all the same, and
 * no metadata lookup may happen at all.
 */

const ROOT = path.resolve(__dirname, '..', '..');
const POLLER = path.join(ROOT, 'services', 'poller', 'dist', 'main.js');
const PROJECT = 'changefeed-test';

/** The emulators, and nothing else: in particular no METADATA_SERVER_DETECTION. */
function emulatorsOnly(): Record<string, string> {
  const env: Record<string, string> = { PATH: process.env['PATH'] ?? '' };
  for (const name of [
    'PUBSUB_EMULATOR_HOST',
    'FIRESTORE_EMULATOR_HOST',
    'BIGQUERY_EMULATOR_HOST',
    'BIGQUERY_STORAGE_EMULATOR_HOST',
  ]) {
    const value = process.env[name];
    if (value === undefined || value === '') throw new Error(`${name} is not set: tests/global-setup.ts starts it`);
    env[name] = value;
  }
  return env;
}

/** Every non-empty line of `text` that is not a JSON object, and every line about a metadata lookup. */
function notJsonLines(text: string): string[] {
  return text
    .split('\n')
    .filter((line) => line.trim() !== '')
    .filter((line) => {
      if (line.includes('MetadataLookupWarning')) return true;
      try {
        const value: unknown = JSON.parse(line);
        return typeof value !== 'object' || value === null;
      } catch {
        return true;
      }
    });
}

let dir: string;
let pubsub: PubSub;

beforeEach(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'changefeed-stderr-'));
  pubsub = new PubSub({ projectId: PROJECT });
});
afterEach(async () => {
  await pubsub.close();
  await rm(dir, { recursive: true, force: true });
});

describe('on the emulators without METADATA_SERVER_DETECTION, output stays JSON lines', () => {
  let api: RunningDemoApi | undefined;
  afterEach(async () => {
    await api?.close();
    api = undefined;
  });

  it('the poller service publishes through Pub/Sub and Firestore and prints only JSON lines', async () => {
    if (!existsSync(POLLER)) throw new Error('services/poller/dist is missing: run "npm run build" (npm test does it)');
    api = await startDemoApi({ port: 0, carts: 6, changesPerSecond: 0, seed: 3 });
    const name = `stderr-${randomUUID().slice(0, 8)}`;
    const [topic] = await pubsub.createTopic(name);
    const [subscription] = await topic.createSubscription(`${name}-pull`);
    const config = path.join(dir, 'changefeed.yaml');
    await writeFile(
      config,
      `backend: gcp
gcp:
  projectId: ${PROJECT}
  pubsub: { topic: ${name} }
  bigquery: { dataset: ${name.replace(/-/g, '_')} }
  firestore: { collection: ${name} }
sources:
  - name: carts
    mode: stream
    request: { url: "${api.url}/carts", recordsPath: carts, pagination: { type: offset, limit: 4 } }
    idField: id
    table: carts
    pollInterval: 1h
`,
    );
    let received = 0;
    const all = new Promise<void>((resolve) =>
      subscription.on('message', (m: Message) => {
        m.ack();
        if (++received === 6) resolve();
      }),
    );
    const proc = spawn(process.execPath, [POLLER], {
      env: { ...emulatorsOnly(), CHANGEFEED_CONFIG: config, PORT: String(await freePort()), LOG_LEVEL: 'info' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    proc.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    proc.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<number | null>((resolve) => proc.on('close', (code) => resolve(code)));
    try {
      await Promise.race([all, exited.then(() => Promise.reject(new Error(`poller exited: ${stderr}`)))]);
    } finally {
      await subscription.close();
      proc.kill('SIGTERM');
    }

    expect(await exited).toBe(0);
    expect(notJsonLines(stderr)).toEqual([]);
    // Its log (on stdout) is where a routed process warning would land: none may be about metadata.
    expect(stdout).toContain('"poller started"');
    expect(notJsonLines(stdout)).toEqual([]);
  });

  it('changefeed dlq list --json pulls the dead-letter subscription and prints only JSON lines on stderr', async () => {
    const name = `stderr-dl-${randomUUID().slice(0, 8)}`;
    const [topic] = await pubsub.createTopic(name);
    await topic.createSubscription(`${name}-pull`);
    const config = path.join(dir, 'changefeed.yaml');
    await writeFile(
      config,
      `backend: gcp
gcp:
  projectId: ${PROJECT}
  pubsub: { topic: ${name}, deadLetterSubscription: ${name}-pull, deadLetterPullTimeout: 1s }
sources:
  - { name: carts, mode: stream, request: { url: "http://127.0.0.1:1/carts" }, idField: id, table: carts }
`,
    );

    const r = await changefeed(['dlq', 'list', '--config', config, '--json'], { env: emulatorsOnly() });

    expect(notJsonLines(r.stderr)).toEqual([]);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe('');
  });
});
