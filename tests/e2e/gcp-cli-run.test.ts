import { randomUUID } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { startDemoApi, type RunningDemoApi } from '@changefeed/demo-api';
import { BIGQUERY_PROJECT, bigqueryQuery } from '../support/bigquery-rest';
import { changefeed, cliIn, type ProcessExit } from './e2e-support';
import { waitFor } from './gcp-pipeline-support';

/*
 * `changefeed gcp setup` and `changefeed run` on a `backend: gcp` config, as a user runs them: the
 * real binary in its own process, against the demo API and the emulators tests/global-setup.ts
 * started (the poller's snapshots in Firestore, the events on Pub/Sub, the rows in BigQuery).
 * Every resource name is unique to the test, so suites share the emulators.
 */

/** The emulators, and nothing else of the test's environment. */
function emulatorEnv(): Record<string, string> {
  const env: Record<string, string> = { METADATA_SERVER_DETECTION: 'none' };
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

interface Installation {
  readonly dir: string;
  readonly configFile: string;
  readonly dataset: string;
  readonly api: RunningDemoApi;
  cli(
    args: readonly string[],
    onStdout?: (text: string, kill: (s: NodeJS.Signals) => void) => void,
  ): Promise<ProcessExit>;
  count(sql: string): Promise<number>;
}

const opened: { close(): Promise<void> }[] = [];
afterEach(async () => {
  for (const o of opened.splice(0).reverse()) await o.close().catch(() => undefined);
});

/** A demo API with a few carts and a gcp config on it with names of its own. */
async function installation(carts: number, options: { exactlyOnce?: boolean } = {}): Promise<Installation> {
  const id = randomUUID().slice(0, 8);
  const dir = await mkdtemp(path.join(tmpdir(), 'changefeed-gcp-cli-'));
  const api = await startDemoApi({ port: 0, carts, changesPerSecond: 0, seed: 11 });
  opened.push({ close: () => rm(dir, { recursive: true, force: true }) }, api);
  const dataset = `gcp_cli_${id}`;
  const configFile = path.join(dir, 'changefeed.yaml');
  // One page per poll (see gcp-pipeline-support.ts); merge compaction inside every append, since
  // the emulator has no change data capture.
  await writeFile(
    configFile,
    `backend: gcp
gcp:
  projectId: ${BIGQUERY_PROJECT}
  pubsub: { topic: gcp-cli-${id}-events, deadLetterSubscription: gcp-cli-${id}-dead-letters-pull }
  firestore: { collection: gcp-cli-${id} }
  bigquery: { dataset: ${dataset} }
loader:
  delivery: pull
  pull: { subscription: gcp-cli-${id}-loader, batchMaxDelay: 50ms, exactlyOnce: ${String(options.exactlyOnce ?? false)} }
sources:
  - name: carts
    mode: stream
    request: { url: "${api.url}/carts", recordsPath: carts, timeout: 5s, minBackoff: 10ms, maxBackoff: 50ms }
    idField: id
    table: carts
    pollInterval: 300ms
    current: { mode: merge, compactEvery: 0 }
  - name: users
    mode: batch
    request: { url: "${api.url}/users", recordsPath: users }
    idField: id
    table: users
    pollInterval: 1h
`,
  );
  const env = emulatorEnv();
  return {
    dir,
    configFile,
    dataset,
    api,
    cli: (args, onStdout) =>
      changefeed([...args, ...(args[0] === 'run' ? ['--data-dir', dir] : [])], { env, onStdout }),
    async count(sql) {
      const rows = await bigqueryQuery(
        sql.replace(/\{(\w+)\}/g, (_, table: string) => `\`${BIGQUERY_PROJECT}.${dataset}.${table}\``),
      );
      return Number(rows[0]?.[0] ?? 0);
    },
  };
}

describe('changefeed gcp setup and run on backend: gcp, against the emulators', () => {
  it('setup creates what the config names and then finds it; run --once (exactly-once delivery) loads the API into BigQuery, a later run only the changes', async () => {
    // Exactly-once here (acks wait for Pub/Sub's confirmation), plain delivery in the next test.
    const inst = await installation(5, { exactlyOnce: true });

    const setup = await inst.cli(['gcp', 'setup', '--config', inst.configFile]);
    expect(setup.stderr).toBe('');
    expect(setup.code).toBe(0);
    expect(setup.stdout).toMatch(/created\s+events topic\s+projects\/changefeed-test\/topics\/gcp-cli-\w+-events/);
    expect(setup.stdout).toMatch(/created\s+loader pull subscription/);
    expect(setup.stdout).toContain('done: 5 created, 0 already existed');
    const again = await inst.cli(['gcp', 'setup', '--config', inst.configFile]);
    expect(again.code).toBe(0);
    expect(again.stdout).toContain('done: 0 created, 5 already existed');

    const first = await inst.cli(['run', '--config', inst.configFile, '--once']);
    expect(first.stderr).toBe('');
    expect(first.code).toBe(0);
    expect(first.stdout).toMatch(/subscription \S+\/subscriptions\/gcp-cli-\w+-loader \(exactly-once\)/);
    expect(first.stdout).toContain(`BigQuery   dataset ${BIGQUERY_PROJECT}.${inst.dataset} (US) (emulator http://`);
    expect(first.stdout).toContain('carts (stream, cold start): 5 records, 5 created');
    expect(first.stdout).toContain('loader: 5 of 5 published events stored (5 written, 0 rejected), 0 dead-lettered');
    const users = inst.api.store.users().length;
    expect(first.stdout).toContain(`users (batch, full): ${users} read, ${users} written`);
    expect(await inst.count('select count(distinct event_id) from {carts_changes}')).toBe(5);
    expect(await inst.count('select count(*) from {users}')).toBe(users);

    const { store } = inst.api;
    store.putCart({ ...store.getCart(2), id: 2, note: 'changed' });
    store.deleteCart(3);
    const second = await inst.cli(['run', '--config', inst.configFile, '--once']);
    expect(second.code).toBe(0);
    expect(second.stdout).toContain('carts (stream): 4 records, 0 created, 1 updated, 1 deleted');
    expect(second.stdout).toContain('loader: 2 of 2 published events stored');
    expect(
      await inst.count(
        "select count(*) from {carts_changes} where (entity_id = '2' or entity_id = '3') and version = 2",
      ),
    ).toBe(2);
    expect(await inst.count('select count(*) from {carts_current}')).toBe(4);
  }, 180_000);

  it('run says to run gcp setup first when the subscription is missing; then it keeps polling and loading until SIGTERM, and stops cleanly with exit 0', async () => {
    const inst = await installation(3);
    const early = await inst.cli(['run', '--config', inst.configFile]);
    expect(early.code).toBe(1);
    expect(early.stderr).toMatch(
      /topics\/gcp-cli-\w+-events and \S+\/subscriptions\/gcp-cli-\w+-loader do not exist on the Pub\/Sub emulator/,
    );
    expect(early.stderr).toContain(`create them with \`changefeed gcp setup --config ${inst.configFile}\``);
    expect((await inst.cli(['gcp', 'setup', '--config', inst.configFile])).code).toBe(0);

    let kill: ((s: NodeJS.Signals) => void) | undefined;
    const running = inst.cli(['run', '--config', inst.configFile], (_, k) => (kill ??= k));
    await waitFor(
      async () => (await inst.count('select count(*) from {carts_changes}').catch(() => 0)) === 3,
      () => 'the cold start in carts_changes',
    );
    inst.api.store.putCart({ id: 100, items: [] });
    await waitFor(
      async () => (await inst.count("select count(*) from {carts_changes} where entity_id = '100'")) === 1,
      () => 'the new cart in carts_changes',
    );
    kill?.('SIGTERM');
    const exit = await running;

    // A cycle stopped mid-fetch logs a warning; nothing may fail.
    expect(exit.stderr).not.toContain('"severity":"ERROR"');
    expect(exit).toMatchObject({ code: 0, signal: null });
    expect(exit.stdout).toContain('Ctrl-C stops');
    expect(exit.stdout).toContain('stopping: finishing in-flight work...');
    expect(exit.stdout).toMatch(/stopped: \d+ poll cycles, 4 published, 4 loaded \(0 rejected\), 0 nacked/);
  }, 180_000);

  it('refuses a config that Pub/Sub or the run cannot work with, before connecting to anything', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'changefeed-gcp-cli-'));
    opened.push({ close: () => rm(dir, { recursive: true, force: true }) });
    const base = `backend: gcp
gcp: { projectId: ${BIGQUERY_PROJECT} }
sources:
  - { name: a, mode: stream, request: { url: "http://127.0.0.1:9/a" }, idField: id, table: a }
`;
    await writeFile(
      path.join(dir, 'bad-name.yaml'),
      `${base}loader: { delivery: pull, pull: { subscription: goog-x } }\n`,
    );
    const badName = await cliIn(dir, ['gcp', 'setup', '--config', 'bad-name.yaml']);
    expect(badName.code).toBe(2);
    expect(badName.stderr).toContain(
      'bad-name.yaml: loader.pull.subscription: invalid Pub/Sub subscription name "goog-x"',
    );

    await writeFile(path.join(dir, 'push.yaml'), base);
    const push = await cliIn(dir, ['run', '--config', 'push.yaml', '--once', '--data-dir', 'd']);
    expect(push.code).toBe(2);
    expect(push.stderr).toContain('this config says loader.delivery: push');
    expect(push.stderr).toContain('changefeed gcp setup --config push.yaml');

    await writeFile(path.join(dir, 'local.yaml'), base.replace('backend: gcp', 'backend: local'));
    const local = await cliIn(dir, ['gcp', 'setup', '--config', 'local.yaml']);
    expect(local.code).toBe(2);
    expect(local.stderr).toContain('local.yaml says backend: local');
  });
});
