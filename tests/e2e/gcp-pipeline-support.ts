import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { PubSub } from '@google-cloud/pubsub';
import { startDemoApi, type RunningDemoApi } from '@changefeed/demo-api';
import { freePort } from '../emulators/start-emulator';
import { BIGQUERY_PROJECT, bigqueryQuery } from '../support/bigquery-rest';

const ROOT = path.resolve(__dirname, '..', '..');
const PROJECT = BIGQUERY_PROJECT;

/** One of the Cloud Run entry points (services/<name>/dist/main.js) running as its own process. */
export interface ServiceProcess {
  readonly url: string;
  /** Everything it wrote (JSON log lines on stdout, start-up failures on stderr). */
  output(): string;
  /** Its log lines of severity ERROR. */
  errorLines(): string[];
  readonly exited: Promise<Exit>;
  /** SIGTERM, as Cloud Run stops an instance; resolves with the exit. */
  stop(): Promise<Exit>;
}

export interface Exit {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
}

/**
 * Starts `services/<service>/dist/main.js` with the config; with `readyLine`, waits until it logs
 * that line (and fails if it dies first). `env` adds to the test's environment, which holds the
 * emulator variables. The child joins `children`, so that a failed test cannot leave it running.
 */
async function startService(
  service: 'poller' | 'loader',
  configFile: string,
  children: Set<ChildProcess>,
  options: { readonly readyLine?: string; readonly env?: Readonly<Record<string, string>> },
): Promise<ServiceProcess> {
  const main = path.join(ROOT, 'services', service, 'dist', 'main.js');
  if (!existsSync(main)) throw new Error(`services/${service}/dist is missing: run "npm run build" (npm test does it)`);
  const port = await freePort();
  const child = spawn(process.execPath, [main], {
    env: {
      ...process.env,
      CHANGEFEED_CONFIG: configFile,
      PORT: String(port),
      LOG_LEVEL: 'info',
      CHANGEFEED_FAILPOINT: '',
      ...options.env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.add(child);
  let output = '';
  const exited = new Promise<Exit>((resolve) =>
    child.on('exit', (code, signal) => {
      children.delete(child);
      resolve({ code, signal });
    }),
  );
  const ready = new Promise<void>((resolve) => {
    const append = (d: Buffer): void => {
      output += d.toString();
      if (options.readyLine === undefined || output.includes(options.readyLine)) resolve();
    };
    child.stdout.on('data', append);
    child.stderr.on('data', append);
    if (options.readyLine === undefined) resolve();
  });
  await Promise.race([
    ready,
    exited.then((exit) => Promise.reject(new Error(`${service} exited (${JSON.stringify(exit)}):\n${output}`))),
  ]);
  const running: ServiceProcess = {
    url: `http://127.0.0.1:${port}`,
    output: () => output,
    errorLines: () => output.split('\n').filter((line) => line.includes('"severity":"ERROR"')),
    exited,
    stop() {
      child.kill('SIGTERM');
      return exitOf(running);
    },
  };
  return running;
}

/** Polls `condition` every 200 ms; the deadline only turns a hang into a failure saying what was last seen. */
export async function waitFor(
  condition: () => Promise<boolean>,
  what: () => string,
  giveUpAfterMs = 120_000,
): Promise<void> {
  const deadline = Date.now() + giveUpAfterMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`gave up waiting for ${what()}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

/** Its exit; fails, showing its output, if it is still running after `giveUpAfterMs`. */
export async function exitOf(service: ServiceProcess, giveUpAfterMs = 120_000): Promise<Exit> {
  let timer: NodeJS.Timeout | undefined;
  const stillRunning = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`still running after ${giveUpAfterMs} ms:\n${service.output()}`)),
      giveUpAfterMs,
    );
  });
  return Promise.race([service.exited, stillRunning]).finally(() => clearTimeout(timer));
}

/** What the poller's `/healthz` says about one source (services/poller/src/app.ts). */
export interface SourceHealth {
  readonly source: string;
  readonly cycles: number;
  readonly lastCycle: {
    readonly status: string;
    readonly records: number;
    readonly published: number;
    readonly error: string | null;
  } | null;
}

export async function sourceHealth(poller: ServiceProcess, source: string): Promise<SourceHealth> {
  const response = await fetch(`${poller.url}/healthz`);
  const body = (await response.json()) as { sources: SourceHealth[] };
  const health = body.sources.find((s) => s.source === source);
  if (health === undefined) throw new Error(`/healthz does not list source "${source}": ${JSON.stringify(body)}`);
  return health;
}

/**
 * The gcp deployment in miniature on the emulators: a demo API, the loader process behind a
 * Pub/Sub push subscription set up as Terraform sets it up, and poller processes started on
 * demand. Every name (topics, subscription, dataset, Firestore collection) is unique to one
 * pipeline, so suites run side by side on the same emulators.
 */
export interface GcpPipeline {
  readonly api: RunningDemoApi;
  readonly loader: ServiceProcess;
  /** `project.dataset.<table>`, quoted for GoogleSQL. */
  table(name: string): string;
  /** A poller process, once it has started; `env` may set CHANGEFEED_FAILPOINT. */
  startPoller(env?: Readonly<Record<string, string>>): Promise<ServiceProcess>;
  /** A poller process at once, not waiting for it to start: for one that is meant to die. */
  spawnPoller(env: Readonly<Record<string, string>>): Promise<ServiceProcess>;
  /** Rows of a query on the BigQuery emulator, values as its REST API gives them (strings). */
  query(sql: string): Promise<unknown[][]>;
  close(): Promise<void>;
}

export interface GcpPipelineOptions {
  readonly carts: number;
  /** Extra top-level YAML (e.g. a `poller:` block). */
  readonly extraYaml?: string;
}

export async function startGcpPipeline(options: GcpPipelineOptions): Promise<GcpPipeline> {
  const id = randomUUID().slice(0, 8);
  const names: PipelineNames = {
    topic: `gcp-e2e-${id}`,
    deadLetterTopic: `gcp-e2e-${id}-dead-letters`,
    subscription: `gcp-e2e-${id}-push`,
    dataset: `gcp_e2e_${id}`,
    collection: `gcp-e2e-${id}`,
  };
  const children = new Set<ChildProcess>();
  const cleanups: (() => Promise<unknown>)[] = [];
  const close = async (): Promise<void> => {
    for (const child of children) child.kill('SIGKILL');
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => undefined);
  };
  try {
    const dir = await mkdtemp(path.join(tmpdir(), 'changefeed-gcp-e2e-'));
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    const api = await startDemoApi({ port: 0, carts: options.carts, changesPerSecond: 0, seed: 7 });
    cleanups.push(() => api.close());
    const configFile = path.join(dir, 'changefeed.yaml');
    await writeFile(configFile, gcpConfigYaml(api.url, names, options.extraYaml ?? ''));
    const pubsub = new PubSub({ projectId: PROJECT });
    cleanups.push(() => pubsub.close());

    const loader = await startService('loader', configFile, children, { readyLine: 'loader listening' });
    const [deadLetters] = await pubsub.createTopic(names.deadLetterTopic);
    cleanups.push(() => deadLetters.delete());
    const [topic] = await pubsub.createTopic(names.topic);
    cleanups.push(() => topic.delete());
    // terraform/pubsub.tf's push subscription, less the OIDC token (the emulator sends none) and
    // the retry policy (without one the emulator retries sooner, and nothing should fail here).
    const [subscription] = await topic.createSubscription(names.subscription, {
      pushConfig: { pushEndpoint: `${loader.url}/pubsub/push` },
      enableMessageOrdering: true,
      ackDeadlineSeconds: 60,
      deadLetterPolicy: { deadLetterTopic: deadLetters.name, maxDeliveryAttempts: 5 },
    });
    cleanups.push(() => subscription.delete());

    return {
      api,
      loader,
      table: (name) => `\`${PROJECT}.${names.dataset}.${name}\``,
      startPoller: (env = {}) => startService('poller', configFile, children, { readyLine: 'poller started', env }),
      spawnPoller: (env) => startService('poller', configFile, children, { env }),
      query: bigqueryQuery,
      close,
    };
  } catch (e: unknown) {
    await close();
    throw e;
  }
}

interface PipelineNames {
  readonly topic: string;
  readonly deadLetterTopic: string;
  readonly subscription: string;
  readonly dataset: string;
  readonly collection: string;
}

/**
 * The source is read in one page (the API's default page of 100): the pollers poll on their own
 * schedule while the test edits the API, and a poll whose pages straddled an edit would see part
 * of it (offset pagination even skips a record shifted by a deletion). One page is one consistent
 * state, since the demo API answers from memory in one turn of the event loop. Pagination is
 * covered by the local e2e, which polls between edits.
 */
function gcpConfigYaml(apiUrl: string, names: PipelineNames, extraYaml: string): string {
  return `backend: gcp
gcp:
  projectId: ${PROJECT}
  pubsub: { topic: ${names.topic} }
  bigquery: { dataset: ${names.dataset} }
  firestore: { collection: ${names.collection} }
# The Pub/Sub emulator signs no OIDC token for its pushes.
loader: { allowUnauthenticatedPush: true }
sources:
  - name: carts
    mode: stream
    request:
      url: ${apiUrl}/carts
      recordsPath: carts
      timeout: 5s
      minBackoff: 10ms
      maxBackoff: 50ms
    idField: id
    table: carts
    pollInterval: 300ms
    # The emulator has no change data capture; compacting inside every append makes _current
    # final once the rows are in _changes, which is what the tests wait for.
    current: { mode: merge, compactEvery: 0 }
${extraYaml}`;
}
