import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { PubSub, type Message } from '@google-cloud/pubsub';
import { startDemoApi, type RunningDemoApi } from '@changefeed/demo-api';
import { freePort } from '../emulators/start-emulator';

const ROOT = path.resolve(__dirname, '..', '..');
const MAIN = path.join(ROOT, 'services', 'poller', 'dist', 'main.js');
const PROJECT = 'changefeed-test';

/** The poller's Cloud Run entry point, as the container runs it, on the Firestore, Pub/Sub and BigQuery emulators. */
describe('poller service (Cloud Run entry point) on the emulators', () => {
  let dir: string;
  let api: RunningDemoApi;
  let pubsub: PubSub;
  let child: ChildProcess | undefined;

  beforeEach(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'changefeed-poller-'));
    api = await startDemoApi({ port: 0, carts: 15, changesPerSecond: 0, seed: 5 });
    pubsub = new PubSub({ projectId: PROJECT });
  });
  afterEach(async () => {
    child?.kill('SIGKILL');
    await pubsub.close();
    await api.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('publishes one ordered CloudEvent per cart to Pub/Sub, and exits 0 on SIGTERM', async () => {
    if (!existsSync(MAIN)) throw new Error('services/poller/dist is missing: run "npm run build" (npm test does it)');
    const suffix = Date.now();
    const [topic] = await pubsub.createTopic(`poller-e2e-${suffix}`);
    const [subscription] = await topic.createSubscription(`poller-e2e-${suffix}-pull`, { enableMessageOrdering: true });
    const config = path.join(dir, 'changefeed.yaml');
    await writeFile(
      config,
      `backend: gcp
gcp:
  projectId: ${PROJECT}
  pubsub: { topic: poller-e2e-${suffix} }
  bigquery: { dataset: poller_e2e_${suffix} }
  firestore: { collection: poller-e2e-${suffix} }
sources:
  - name: carts
    mode: stream
    request: { url: "${api.url}/carts", recordsPath: carts, pagination: { type: offset, limit: 4 } }
    idField: id
    table: carts
    pollInterval: 1h
`,
    );
    const received: Message[] = [];
    const all = new Promise<void>((resolve) =>
      subscription.on('message', (m: Message) => {
        received.push(m);
        m.ack();
        if (received.length === 15) resolve();
      }),
    );
    let stderr = '';
    const proc = spawn(process.execPath, [MAIN], {
      env: { ...process.env, CHANGEFEED_CONFIG: config, PORT: String(await freePort()), LOG_LEVEL: 'warn' },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    child = proc;
    proc.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<number | null>((resolve) => proc.on('exit', (code) => resolve(code)));
    await Promise.race([all, exited.then(() => Promise.reject(new Error(`poller exited: ${stderr}`)))]);
    await subscription.close();

    expect(received.map((m) => m.attributes['ce-subject']).sort((a, b) => Number(a) - Number(b))).toEqual(
      api.store.allCarts().map((c) => String(c.id)),
    );
    for (const m of received) {
      expect(m.orderingKey).toBe(`carts/${m.attributes['ce-subject'] ?? ''}`);
      expect(m.attributes['ce-type']).toBe('dev.changefeed.entity.created');
    }
    expect(new Set(received.map((m) => m.attributes['ce-id'])).size).toBe(15);

    proc.kill('SIGTERM');
    expect(await exited).toBe(0);
    expect(stderr).toBe('');
  });
});
