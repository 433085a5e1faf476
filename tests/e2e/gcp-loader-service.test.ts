import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { BIGQUERY_PROJECT, bigqueryQuery } from '../support/bigquery-rest';
import { buildPushEnvelope, changeToMessage, eventId } from '@changefeed/shared/events';
import { freePort } from '../emulators/start-emulator';

const ROOT = path.resolve(__dirname, '..', '..');
const MAIN = path.join(ROOT, 'services', 'loader', 'dist', 'main.js');
const PROJECT = BIGQUERY_PROJECT;

/** The loader's Cloud Run entry point, as the container runs it, against the emulators. */
describe('loader service (Cloud Run entry point) on the BigQuery emulator', () => {
  let dir: string;
  let child: ChildProcess | undefined;

  beforeEach(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'changefeed-loader-'));
  });
  afterEach(async () => {
    child?.kill('SIGKILL');
    await rm(dir, { recursive: true, force: true });
  });

  it('writes a pushed event through the Storage Write API, and exits 0 on SIGTERM', async () => {
    if (!existsSync(MAIN)) throw new Error('services/loader/dist is missing: run "npm run build" (npm test does it)');
    const dataset = `loader_e2e_${Date.now()}`;
    const config = path.join(dir, 'changefeed.yaml');
    await writeFile(
      config,
      `backend: gcp
gcp:
  projectId: ${PROJECT}
  bigquery: { dataset: ${dataset} }
sources:
  - name: carts
    mode: stream
    request: { url: "http://127.0.0.1:9/carts" }
    idField: id
    table: carts
    # The emulator has no change data capture; compacted inside the append, _current is final
    # when the push is answered.
    current: { mode: merge, compactEvery: 0 }
`,
    );
    const port = await freePort();
    let stderr = '';
    const proc = spawn(process.execPath, [MAIN], {
      env: { ...process.env, CHANGEFEED_CONFIG: config, PORT: String(port), LOG_LEVEL: 'info' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child = proc;
    proc.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<number | null>((resolve) => proc.on('exit', (code) => resolve(code)));
    const ready = new Promise<void>((resolve) =>
      proc.stdout.on('data', (d: Buffer) => {
        if (d.toString().includes('loader listening')) resolve();
      }),
    );
    await Promise.race([ready, exited.then(() => Promise.reject(new Error(`loader exited: ${stderr}`)))]);

    const id = eventId('carts', '7', 1, 'created', 'h');
    const message = changeToMessage({
      id,
      type: 'created',
      source: 'carts',
      table: 'carts',
      entityId: '7',
      version: 1,
      time: new Date('2024-06-01T00:00:00Z'),
      record: { id: 7, total: 12.5 },
    });
    const envelope = buildPushEnvelope({
      messageId: '1',
      subscription: `projects/${PROJECT}/subscriptions/loader`,
      data: message.data,
      attributes: message.attributes,
      publishTime: new Date(),
      orderingKey: null,
      deliveryAttempt: null,
    });
    const response = await fetch(`http://127.0.0.1:${port}/pubsub/push`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(envelope),
    });
    expect(response.status).toBe(204);

    const rows = await bigqueryQuery(
      `select event_id, entity_id, version from \`${PROJECT}.${dataset}.carts_current\``,
    );
    expect(rows).toEqual([[id, '7', '1']]);

    proc.kill('SIGTERM');
    expect(await exited).toBe(0);
    expect(stderr).toBe('');
  });
});
