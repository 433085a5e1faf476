import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { BIGQUERY_PROJECT, bigqueryQuery } from '../support/bigquery-rest';
import { buildPushEnvelope, changeToMessage, eventId } from '@changefeed/shared/events';
import { PubSub } from '@google-cloud/pubsub';
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

  /** The entry point with `config`; `stderr()` is what it wrote there so far. */
  async function startLoader(config: string): Promise<{
    proc: ChildProcess;
    port: number;
    exited: Promise<number | null>;
    stderr: () => string;
  }> {
    const port = await freePort();
    let stderr = '';
    const proc = spawn(process.execPath, [MAIN], {
      env: { ...process.env, CHANGEFEED_CONFIG: config, PORT: String(port), LOG_LEVEL: 'info' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child = proc;
    proc.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<number | null>((resolve) => proc.on('exit', (code) => resolve(code)));
    return { proc, port, exited, stderr: () => stderr };
  }

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
# The test pushes without an OIDC token, as a loader behind internal ingress would take it.
loader: { allowUnauthenticatedPush: true }
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
    const { proc, port, exited, stderr } = await startLoader(config);
    const ready = new Promise<void>((resolve) =>
      proc.stdout?.on('data', (d: Buffer) => {
        if (d.toString().includes('loader listening')) resolve();
      }),
    );
    await Promise.race([ready, exited.then(() => Promise.reject(new Error(`loader exited: ${stderr()}`)))]);

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
    expect(stderr()).toBe('');
  });

  it('with push delivery and neither loader.auth nor allowUnauthenticatedPush, refuses to start and names the key', async () => {
    if (!existsSync(MAIN)) throw new Error('services/loader/dist is missing: run "npm run build" (npm test does it)');
    const config = path.join(dir, 'changefeed.yaml');
    await writeFile(
      config,
      `backend: gcp
gcp: { projectId: ${PROJECT} }
sources:
  - { name: carts, mode: stream, request: { url: "http://127.0.0.1:9/carts" }, idField: id, table: carts }
`,
    );
    const { exited, stderr } = await startLoader(config);
    expect(await exited).toBe(2);
    expect(stderr()).toContain('cannot start');
    expect(stderr()).toContain(`${config}: loader.auth: `);
    expect(stderr()).toContain('loader.allowUnauthenticatedPush: true');
  });

  it('in pull mode, loads what the subscription holds in batches, and on SIGTERM acks what it took and exits 0', async () => {
    if (!existsSync(MAIN)) throw new Error('services/loader/dist is missing: run "npm run build" (npm test does it)');
    const suffix = Date.now();
    const dataset = `loader_pull_${suffix}`;
    const pubsub = new PubSub({ projectId: PROJECT });
    const [topic] = await pubsub.createTopic(`loader-pull-${suffix}`);
    const [subscription] = await topic.createSubscription(`loader-pull-${suffix}-sub`, { enableMessageOrdering: true });
    try {
      const config = path.join(dir, 'changefeed.yaml');
      await writeFile(
        config,
        `backend: gcp
gcp:
  projectId: ${PROJECT}
  bigquery: { dataset: ${dataset} }
loader:
  delivery: pull
  pull: { subscription: ${subscription.name}, batchMaxMessages: 50, batchMaxDelay: 50ms }
sources:
  - name: carts
    mode: stream
    request: { url: "http://127.0.0.1:9/carts" }
    idField: id
    table: carts
    current: { mode: merge, compactEvery: 0 }
`,
      );
      const ordered = pubsub.topic(topic.name, { messageOrdering: true });
      const ids: string[] = [];
      for (let n = 1; n <= 120; n++) {
        const id = eventId('carts', String(n), 1, 'created', 'h');
        ids.push(id);
        const message = changeToMessage({
          id,
          type: 'created',
          source: 'carts',
          table: 'carts',
          entityId: String(n),
          version: 1,
          time: new Date('2024-06-01T00:00:00Z'),
          record: { id: n },
        });
        void ordered.publishMessage({
          data: message.data,
          attributes: message.attributes,
          orderingKey: message.orderingKey,
        });
      }
      await ordered.flush();

      const { proc, exited, stderr } = await startLoader(config);

      let rows: unknown[][] = [];
      for (let i = 0; i < 300 && rows.length < 120; i++) {
        await new Promise((resolve) => setTimeout(resolve, 200));
        rows = await bigqueryQuery(`select entity_id from \`${PROJECT}.${dataset}.carts_current\``).catch(() => []);
      }
      expect(rows).toHaveLength(120);
      const batches = await bigqueryQuery(
        `select count(distinct ingested_at) from \`${PROJECT}.${dataset}.carts_changes\``,
      );
      // Batches, not a row at a time: fewer appends than messages (at most 50 per batch).
      expect(Number(batches[0]?.[0])).toBeGreaterThanOrEqual(3);
      expect(Number(batches[0]?.[0])).toBeLessThan(120);

      proc.kill('SIGTERM');
      expect(await exited).toBe(0);
      expect(stderr()).toBe('');
      // Every message was acked: the changes table holds each event once.
      const perEvent = await bigqueryQuery(
        `select count(*), count(distinct event_id) from \`${PROJECT}.${dataset}.carts_changes\``,
      );
      expect(perEvent).toEqual([['120', '120']]);
    } finally {
      await subscription.delete().catch(() => undefined);
      await topic.delete().catch(() => undefined);
      await pubsub.close();
    }
  }, 90_000);
});
