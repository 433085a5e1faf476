import { randomUUID } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { PubSub, type v1 } from '@google-cloud/pubsub';
import { buildLoaderApp, type LoaderApp } from '@changefeed/loader';
import { createSubscriberClient, PubSubDeadLetterQueue, PubSubEventPublisher } from '@changefeed/shared/adapters/gcp';
import { DuckDbWarehouse } from '@changefeed/shared/adapters/local';
import { loaderSchema } from '@changefeed/shared/config';
import { changeToMessage, type ChangeEvent } from '@changefeed/shared/events';
import { listen, type ListeningServer } from '@changefeed/shared/http';
import { createSilentLogger } from '@changefeed/shared/log';
import { systemClock, type OutboundMessage } from '@changefeed/shared/ports';
import type { CliContext } from '@changefeed/cli';
import { cliIn, jsonLines, type CliResult } from './e2e-support';

/**
 * `changefeed dlq` against the Pub/Sub emulator, with Pub/Sub's own dead-lettering: the loader's
 * push subscription forwards what the loader refused five times to a dead-letter topic, whose pull
 * subscription the CLI reads and replays to the main topic.
 *
 * The push subscription is not ordered (the one Terraform makes is): from an ordered subscription
 * the emulator never forwards to the dead-letter topic. The loader writes to DuckDB, not the
 * BigQuery emulator: what is under test is the dead-letter path through Pub/Sub, and DuckDB lets the
 * test break the cause (a `carts_changes` table of the wrong shape) and fix it in place.
 */
const PROJECT = 'changefeed-test';

let pubsub: PubSub;
let subscriber: v1.SubscriberClient;

beforeAll(() => {
  pubsub = new PubSub({ projectId: PROJECT });
  subscriber = createSubscriberClient(process.env['PUBSUB_EMULATOR_HOST']);
});

afterAll(async () => {
  await subscriber.close();
  await pubsub.close();
});

function uniqueName(prefix: string): string {
  return `${prefix}-${randomUUID().slice(0, 8)}`;
}

/** Polls `condition`; the deadline only turns a hang into a failure, nothing is asserted about time. */
async function waitFor(condition: () => Promise<boolean>, what: string, giveUpAfterMs = 60_000): Promise<void> {
  const deadline = Date.now() + giveUpAfterMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`gave up waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

function cartCreated(id: number): ChangeEvent {
  return {
    id: `cart-${id}-v1-${randomUUID().slice(0, 8)}`,
    type: 'created',
    source: 'carts',
    table: 'carts',
    entityId: String(id),
    version: 1,
    time: new Date('2026-11-25T10:00:00.000Z'),
    record: { id, total: 10 + id },
  };
}

/** The loader on Pub/Sub whose warehouse refuses every cart, after the carts were dead-lettered. */
interface Poisoned {
  readonly changes: readonly ChangeEvent[];
  readonly messages: readonly OutboundMessage[];
  readonly subscription: string;
  readonly topic: string;
  readonly warehouse: DuckDbWarehouse;
  readonly loader: LoaderApp;
  cli(args: readonly string[], extra?: Partial<CliContext>): Promise<CliResult>;
  /** The event ids of `dlq list --json`, in its order. */
  deadLetterIds(): Promise<string[]>;
  /** Messages on the main topic since the last call (a pull subscription made before anything was published). */
  tapped(): Promise<
    { readonly orderingKey: string; readonly attributes: Record<string, string>; readonly data: Buffer }[]
  >;
  /** Rows of `carts_changes` per event id, once there are `rows` of them. */
  changesPerEvent(rows: number): Promise<Map<string, number>>;
  close(): Promise<void>;
}

async function poisoned(count: number): Promise<Poisoned> {
  const dir = await mkdtemp(path.join(tmpdir(), 'changefeed-dlq-pubsub-'));
  const warehouse = await DuckDbWarehouse.open(path.join(dir, 'warehouse.duckdb'));
  // The cause: a table of the wrong shape, so every append of a cart fails and the loader answers 5xx.
  await warehouse.query('create table carts_changes (x integer)');
  const loader = buildLoaderApp({
    rowSink: warehouse,
    logger: createSilentLogger(),
    clock: systemClock,
    config: loaderSchema.parse({ groupCommitMaxDelay: 0 }),
  });
  const server: ListeningServer = await listen(loader.app, { port: 0 });

  const [deadLetters] = await pubsub.createTopic(uniqueName('dead-letters'));
  const [deadLetterSubscription] = await deadLetters.createSubscription(uniqueName('dead-letters-pull'));
  const [topic] = await pubsub.createTopic(uniqueName('events'));
  const [tap] = await topic.createSubscription(uniqueName('tap'));
  await topic.createSubscription(uniqueName('loader-push'), {
    pushConfig: { pushEndpoint: `${server.url}/pubsub/push` },
    deadLetterPolicy: { deadLetterTopic: deadLetters.name, maxDeliveryAttempts: 5 },
  });
  const changes = Array.from({ length: count }, (_, i) => cartCreated(i + 1));
  const messages = changes.map(changeToMessage);
  const publisher = new PubSubEventPublisher(topic, { logger: createSilentLogger() });
  const outcomes = await publisher.publish(messages);
  await publisher.close();
  expect(outcomes.every((o) => o.ok)).toBe(true);

  const queue = new PubSubDeadLetterQueue(subscriber, {
    subscription: deadLetterSubscription.name,
    pullTimeoutMs: 1_000,
    logger: createSilentLogger(),
  });
  await waitFor(async () => (await queue.list()).letters.length === count, `${count} dead letters`);
  await queue.close();

  const configFile = path.join(dir, 'changefeed.yaml');
  await writeFile(
    configFile,
    `backend: gcp
gcp:
  projectId: ${PROJECT}
  pubsub:
    topic: ${topic.name.split('/').at(-1) ?? ''}
    deadLetterSubscription: ${deadLetterSubscription.name.split('/').at(-1) ?? ''}
    deadLetterPullTimeout: 1s
sources:
  - { name: carts, mode: stream, request: { url: "http://127.0.0.1:9/carts" }, idField: id, table: carts }
`,
  );

  const fixture: Poisoned = {
    changes,
    messages,
    subscription: deadLetterSubscription.name,
    topic: topic.name,
    warehouse,
    loader,
    cli: (args, extra = {}) =>
      cliIn(dir, ['dlq', ...args, '--config', configFile], {
        env: { PUBSUB_EMULATOR_HOST: process.env['PUBSUB_EMULATOR_HOST'] },
        ...extra,
      }),
    async deadLetterIds() {
      const listed = await fixture.cli(['list', '--json']);
      expect(listed.code).toBe(0);
      return jsonLines(listed.stdout).map((l) => String(l['eventId']));
    },
    async tapped() {
      const [response] = await subscriber.pull({ subscription: tap.name, maxMessages: 1000 }, { timeout: 1_000 });
      const received = response.receivedMessages ?? [];
      const ackIds = received.flatMap((r) => (typeof r.ackId === 'string' ? [r.ackId] : []));
      if (ackIds.length > 0) await subscriber.acknowledge({ subscription: tap.name, ackIds });
      return received.map((r) => ({
        orderingKey: r.message?.orderingKey ?? '',
        attributes: { ...(r.message?.attributes ?? {}) },
        data: Buffer.from(r.message?.data ?? new Uint8Array()),
      }));
    },
    async changesPerEvent(rows) {
      // The loader makes the table with the first row it writes.
      const count = async (): Promise<number> =>
        Number(
          (await warehouse.query("select count(*) as n from duckdb_tables() where table_name = 'carts_changes'"))[0]?.[
            'n'
          ] ?? 0,
        ) === 0
          ? 0
          : Number((await warehouse.query('select count(*) as n from carts_changes'))[0]?.['n'] ?? 0);
      await waitFor(async () => (await count()) >= rows, `${rows} rows in carts_changes`);
      const perEvent = await warehouse.query('select event_id, count(*)::integer as n from carts_changes group by 1');
      return new Map(perEvent.map((r) => [String(r['event_id']), Number(r['n'])]));
    },
    async close() {
      await server.close({ force: true });
      await loader.close();
      await warehouse.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
  // What the poison phase put on the main topic is not what the tests look at.
  await fixture.tapped();
  return fixture;
}

/** `carts_current` is exactly these changes' records. */
async function expectCurrent(p: Poisoned, changes: readonly ChangeEvent[]): Promise<void> {
  const current = await p.warehouse.query(
    'select entity_id, data, event_id from carts_current order by cast(entity_id as integer)',
  );
  expect(current).toEqual(changes.map((c) => ({ entity_id: c.entityId, data: c.record, event_id: c.id })));
}

describe('changefeed dlq on the Pub/Sub emulator', () => {
  let p: Poisoned;
  afterEach(async () => {
    await p.close();
  });

  it('lists what Pub/Sub dead-lettered after 5 attempts; once the cause is fixed, replay delivers each once and carts_current is exact', async () => {
    p = await poisoned(6);

    const listed = await p.cli(['list', '--json']);
    await p.warehouse.query('drop table carts_changes');
    const replay = await p.cli(['replay']);
    const perEvent = await p.changesPerEvent(6);
    const after = await p.cli(['list']);

    const lines = jsonLines(listed.stdout);
    expect(lines.map((l) => l['eventId']).sort()).toEqual(p.changes.map((c) => c.id).sort());
    for (const line of lines) {
      expect(line).toMatchObject({ type: 'created', source: 'carts', deliveryAttempts: 5, lastError: null });
    }
    expect(replay.stderr).toBe('');
    expect(replay.code).toBe(0);
    expect(replay.stdout).toContain('replayed 6, skipped 0 (filtered out), failed 0');
    expect(replay.stdout).toContain(`Pub/Sub pushes them from ${p.topic} to the loader`);
    await expectCurrent(p, p.changes);
    expect(perEvent).toEqual(new Map(p.changes.map((c) => [c.id, 1])));
    expect(after.stdout).toContain(`no dead letters in ${p.subscription}`);
  }, 120_000);

  it('--dry-run shows what it would replay and publishes nothing', async () => {
    p = await poisoned(3);
    await p.warehouse.query('drop table carts_changes');
    const before = await p.deadLetterIds();

    const dry = await p.cli(['replay', '--dry-run']);

    expect(dry.code).toBe(0);
    expect(dry.stdout).toContain(`dry run: would replay 3 from ${p.subscription} to ${p.topic}`);
    expect(await p.tapped()).toEqual([]);
    expect((await p.deadLetterIds()).sort()).toEqual([...before].sort());
    expect(p.loader.stats().written).toBe(0);
  }, 120_000);

  it('--filter replays only the matching dead letter, with its data, attributes and ordering key', async () => {
    p = await poisoned(4);
    await p.warehouse.query('drop table carts_changes');
    const [, chosen] = p.changes;
    const original = p.messages[1];
    if (chosen === undefined || original === undefined) throw new Error('test setup');

    const replay = await p.cli(['replay', '--filter', `entity=${chosen.entityId}`, '--filter', 'type=created']);
    const tapped = await p.tapped();
    const left = await p.deadLetterIds();
    await p.changesPerEvent(1);

    expect(replay.code).toBe(0);
    expect(replay.stdout).toContain('replayed 1, skipped 3 (filtered out), failed 0');
    expect(tapped).toEqual([
      { orderingKey: original.orderingKey, attributes: original.attributes, data: original.data },
    ]);
    expect(left.sort()).toEqual(
      p.changes
        .filter((c) => c !== chosen)
        .map((c) => c.id)
        .sort(),
    );
    await expectCurrent(p, [chosen]);
  }, 120_000);

  it('interrupted (Ctrl-C), then crashed between republish and removal, then run again: nothing is lost, and the doubled step is dropped by event id', async () => {
    p = await poisoned(9);
    await p.warehouse.query('drop table carts_changes');
    const ctrlC = new AbortController();

    // --rate 3: steps of 3. Ctrl-C arrives while the first step is in flight.
    const interrupted = await p.cli(['replay', '--rate', '3'], {
      signal: ctrlC.signal,
      afterReplayPublish: () => ctrlC.abort(new Error('SIGINT')),
    });
    const afterInterrupt = await p.deadLetterIds();
    // The process dies after Pub/Sub acknowledged the next step's republish, before it removed them.
    const crashed = await p.cli(['replay', '--rate', '3'], {
      afterReplayPublish: () => {
        throw new Error('the process died here');
      },
    });
    const afterCrash = await p.deadLetterIds();
    const resumed = await p.cli(['replay']);
    const perEvent = await p.changesPerEvent(12);

    expect(interrupted.code).toBe(1);
    expect(interrupted.stdout).toContain('replayed 3, skipped 0 (filtered out), failed 0');
    expect(interrupted.stdout).toContain('interrupted: 6 not replayed, still dead letters');
    expect(afterInterrupt).toHaveLength(6);
    expect(crashed.code).toBe(1);
    expect(crashed.stdout).toContain('stopped: the process died here; 3 not replayed');
    expect(afterCrash.sort()).toEqual([...afterInterrupt].sort());
    expect(resumed.code).toBe(0);
    expect(resumed.stdout).toContain('replayed 6, skipped 0 (filtered out), failed 0');
    await expectCurrent(p, p.changes);
    const doubled = new Set(afterInterrupt.slice(0, 3));
    expect(perEvent).toEqual(new Map(p.changes.map((c) => [c.id, doubled.has(c.id) ? 2 : 1])));
    expect(await p.deadLetterIds()).toEqual([]);
  }, 180_000);

  it('a dead-letter subscription or a topic that does not exist is named in the error, and exits 1', async () => {
    p = await poisoned(1);

    const noSubscription = await p.cli(['list', '--subscription', 'no-such-subscription']);
    const noTopic = await p.cli(['replay', '--topic', 'no-such-topic']);
    const badName = await p.cli(['list', '--subscription', 'goog-reserved']);

    expect(noSubscription.code).toBe(1);
    expect(noSubscription.stderr).toContain(
      `the dead-letter subscription projects/${PROJECT}/subscriptions/no-such-subscription does not exist (set by --subscription)`,
    );
    expect(noTopic.code).toBe(1);
    expect(noTopic.stderr).toContain(
      `the topic projects/${PROJECT}/topics/no-such-topic does not exist (set by --topic)`,
    );
    expect(noTopic.stdout).toContain('replayed 0, skipped 0 (filtered out), failed 1');
    expect(await p.deadLetterIds()).toHaveLength(1);
    expect(badName.code).toBe(2);
    expect(badName.stderr).toContain('--subscription: invalid Pub/Sub subscription name "goog-reserved"');
  }, 120_000);
});
