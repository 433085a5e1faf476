import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { PubSub, type Topic, type v1 } from '@google-cloud/pubsub';
import { buildLoaderApp } from '@changefeed/loader';
import {
  createPubSubPublisher,
  createSubscriberClient,
  PubSubDeadLetterQueue,
  PubSubEventPublisher,
  PublishErrorCode,
  subscriberClientOptions,
} from '@changefeed/shared/adapters/gcp';
import { loaderSchema, parseConfig } from '@changefeed/shared/config';
import { AppError, ValidationError } from '@changefeed/shared/errors';
import { changeToMessage, parsePushEnvelope, type PushedMessage } from '@changefeed/shared/events';
import { listen, type ListeningServer } from '@changefeed/shared/http';
import type { DeadLetter, OutboundMessage, PublishOutcome } from '@changefeed/shared/ports';
import { DEAD_LETTER_CONTRACT_ATTEMPTS, deadLetterQueueContract } from '../../contract/dead-letter-queue.contract';
import { eventPublisherContract, type ReadBackMessage } from '../../contract/event-publisher.contract';
import { cartChange, FakeRowSink } from '../../support/loader-fakes';
import { captureLog, FakeClock } from '../../support/source-fakes';

/**
 * The Pub/Sub adapters against Google's emulator (started by tests/global-setup.ts, found through
 * PUBSUB_EMULATOR_HOST). Every test makes its own topics and subscriptions.
 */
const PROJECT = 'changefeed-test';

let pubsub: PubSub;
let subscriber: v1.SubscriberClient;
const cleanups: (() => Promise<unknown>)[] = [];

beforeAll(() => {
  pubsub = new PubSub({ projectId: PROJECT });
  subscriber = createSubscriberClient(process.env['PUBSUB_EMULATOR_HOST']);
});

afterEach(async () => {
  await Promise.allSettled(cleanups.splice(0).map((c) => c()));
});

afterAll(async () => {
  await subscriber.close();
  await pubsub.close();
});

function uniqueName(prefix: string): string {
  return `${prefix}-${randomUUID().slice(0, 8)}`;
}

async function createTopic(prefix: string): Promise<Topic> {
  const [topic] = await pubsub.createTopic(uniqueName(prefix));
  return topic;
}

/** An ordered pull subscription, created before publishing so that it receives everything. */
async function orderedPullSubscription(topic: Topic): Promise<string> {
  const [subscription] = await topic.createSubscription(uniqueName('pull'), { enableMessageOrdering: true });
  return subscription.name;
}

function publisherOn(topic: Topic, options: ConstructorParameters<typeof PubSubEventPublisher>[1] = {}) {
  const publisher = new PubSubEventPublisher(topic, { logger: captureLog('pubsub').logger, ...options });
  cleanups.push(() => publisher.close());
  return publisher;
}

/** Polls `condition` every 25 ms; the deadline only turns a hang into a failure, nothing is asserted about time. */
async function waitFor(condition: () => boolean | Promise<boolean>, what: string, giveUpAfterMs = 30_000) {
  const deadline = Date.now() + giveUpAfterMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`gave up waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

/** Pulls and acks until `count` messages arrived; returns them in arrival order. */
async function pullMessages(subscription: string, count: number): Promise<ReadBackMessage[]> {
  const received: ReadBackMessage[] = [];
  await waitFor(async () => {
    // 1 s: the emulator answers an empty pull about a second before the deadline, i.e. at once.
    const [response] = await subscriber.pull({ subscription, maxMessages: 100 }, { timeout: 1_000 });
    const messages = response.receivedMessages ?? [];
    for (const r of messages) {
      const m = r.message ?? {};
      received.push({
        messageId: m.messageId ?? '',
        orderingKey:
          m.orderingKey === undefined || m.orderingKey === null || m.orderingKey === '' ? null : m.orderingKey,
        data: Buffer.from(m.data ?? new Uint8Array()),
        attributes: { ...(m.attributes ?? {}) },
      });
    }
    const ackIds = messages.flatMap((r) => (typeof r.ackId === 'string' ? [r.ackId] : []));
    if (ackIds.length > 0) await subscriber.acknowledge({ subscription, ackIds });
    return received.length >= count;
  }, `${count} pulled messages`);
  return received;
}

function publishedIds(outcomes: readonly PublishOutcome[]): Map<string, string> {
  return new Map(
    outcomes.map((o) => {
      if (!o.ok) throw new Error(`expected ${o.id} to be published, got ${o.error.message}`);
      return [o.id, o.messageId];
    }),
  );
}

function errorOf(outcome: PublishOutcome | undefined): AppError {
  if (outcome === undefined || outcome.ok) throw new Error('expected a failed outcome');
  expect(outcome.error).toBeInstanceOf(AppError);
  return outcome.error as AppError;
}

/** A push endpoint answering `status` to every push, keeping what it received. */
class PushEndpoint {
  status = 500;
  readonly pushes: { readonly push: PushedMessage; readonly status: number }[] = [];
  private server: ListeningServer | undefined;

  async start(): Promise<string> {
    this.server = await listen((req, res) => void this.handle(req, res), { port: 0 });
    cleanups.push(() => this.server?.close({ force: true }) ?? Promise.resolve());
    return `${this.server.url}/pubsub/push`;
  }

  pushesOf(eventId: string): { readonly push: PushedMessage; readonly status: number }[] {
    return this.pushes.filter((p) => p.push.attributes['ce-id'] === eventId);
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const status = this.status;
    this.pushes.push({ push: parsePushEnvelope(JSON.parse(Buffer.concat(chunks).toString('utf8'))), status });
    res.writeHead(status).end();
  }
}

describe('the Pub/Sub publisher contract on the emulator', () => {
  const subscriptions = new Map<PubSubEventPublisher, string>();

  eventPublisherContract(
    'PubSubEventPublisher',
    async () => {
      const topic = await createTopic('contract');
      const subscription = await orderedPullSubscription(topic);
      const publisher = publisherOn(topic);
      subscriptions.set(publisher, subscription);
      return publisher;
    },
    (publisher, count) => {
      const subscription = subscriptions.get(publisher);
      if (subscription === undefined) throw new Error('test setup: no subscription for this publisher');
      return pullMessages(subscription, count);
    },
  );
});

describe('PubSubEventPublisher on the emulator', () => {
  let run: number;

  beforeEach(() => {
    run = Number.parseInt(randomUUID().slice(0, 6), 16);
  });

  /** Versions 1..n of cart `entity`: created, then updates, the last one a deletion when asked. */
  function history(entity: number, versions: number, options: { deletedLast?: boolean } = {}): OutboundMessage[] {
    return Array.from({ length: versions }, (_, i) => {
      const version = i + 1;
      const type =
        version === 1 ? 'created' : options.deletedLast === true && version === versions ? 'deleted' : 'updated';
      return changeToMessage(cartChange(entity, { version, type }));
    });
  }

  /** Interleaves the histories the way a poll cycle does: v1 of every entity, then v2 of every entity, ... */
  function interleave(histories: readonly OutboundMessage[][]): OutboundMessage[] {
    const longest = Math.max(...histories.map((h) => h.length));
    const out: OutboundMessage[] = [];
    for (let i = 0; i < longest; i++) {
      for (const h of histories) {
        const m = h[i];
        if (m !== undefined) out.push(m);
      }
    }
    return out;
  }

  it('an ordered pull subscription receives every change with its ce-* attributes, data and ordering key, in order per entity', async () => {
    const topic = await createTopic('changes');
    const subscription = await orderedPullSubscription(topic);
    const publisher = publisherOn(topic);
    const histories = [0, 1, 2, 3, 4].map((e) => history(run + e, 4, { deletedLast: e % 2 === 0 }));
    const messages = interleave(histories);

    const ids = publishedIds(await publisher.publish(messages));
    const received = await pullMessages(subscription, messages.length);

    expect(received).toHaveLength(messages.length);
    const sent = new Map(messages.map((m) => [m.id, m]));
    for (const r of received) {
      const m = sent.get(r.attributes['ce-id'] ?? '');
      expect(m).toBeDefined();
      expect(r.messageId).toBe(ids.get(m?.id ?? ''));
      expect(r.orderingKey).toBe(m?.orderingKey);
      expect(r.attributes).toEqual(m?.attributes);
      expect(r.data.equals(m?.data ?? Buffer.alloc(1))).toBe(true);
    }
    for (const h of histories) {
      const key = h[0]?.orderingKey;
      const versions = received.filter((r) => r.orderingKey === key).map((r) => r.attributes['ce-cfversion']);
      expect(versions).toEqual(['1', '2', '3', '4']);
    }
  });

  it('the real loader accepts the push envelopes the emulator sends, and rows arrive in order per entity', async () => {
    const sink = new FakeRowSink();
    const loader = buildLoaderApp({
      rowSink: sink,
      logger: captureLog('loader').logger,
      clock: new FakeClock(),
      config: loaderSchema.parse({ groupCommitMaxDelay: 0 }),
    });
    const server = await listen(loader.app, { port: 0 });
    cleanups.push(async () => {
      await loader.close();
      await server.close({ force: true });
    });
    const topic = await createTopic('loader');
    await topic.createSubscription(uniqueName('loader-push'), {
      pushConfig: { pushEndpoint: `${server.url}/pubsub/push` },
      enableMessageOrdering: true,
      ackDeadlineSeconds: 10,
    });
    const publisher = publisherOn(topic);
    const histories = [0, 1, 2, 3, 4, 5].map((e) => history(run + e, 3, { deletedLast: e === 0 }));
    const messages = interleave(histories);

    const ids = publishedIds(await publisher.publish(messages));
    await waitFor(() => sink.rowsOf('carts').length >= messages.length, `${messages.length} rows in the sink`);

    const rows = sink.rowsOf('carts');
    expect(rows).toHaveLength(messages.length);
    expect(sink.rejected).toEqual([]);
    expect(loader.stats()).toMatchObject({ written: messages.length, rejected: 0, failed: 0 });
    for (const h of histories) {
      const entityRows = rows.filter((r) => r.entity_id === h[0]?.attributes['ce-subject']);
      expect(entityRows.map((r) => r.event_id)).toEqual(h.map((m) => m.id));
      expect(entityRows.map((r) => r.version)).toEqual([1, 2, 3]);
    }
    for (const row of rows) {
      expect(row.message_id).toBe(ids.get(row.event_id));
      // The emulator's push envelope has no deliveryAttempt (nor orderingKey).
      expect(row.delivery_attempt).toBeNull();
    }
  });

  it('publishing to a deleted topic fails every message instead of throwing, later messages of a failed key are not sent, and the key publishes again once the topic is back', async () => {
    const [topic] = await pubsub.createTopic(uniqueName('deleted'));
    // One message outstanding at a time, so the second message of a key is still waiting when the first fails.
    const publisher = publisherOn(topic, { flowControl: { maxOutstandingMessages: 1 } });
    const resumed = jest.spyOn(topic, 'resumePublishing');
    const [a1, a2, a3] = history(run, 3);
    const [b1] = history(run + 1, 1);
    if (a1 === undefined || a2 === undefined || a3 === undefined || b1 === undefined) throw new Error('test setup');
    publishedIds(await publisher.publish([a1]));
    await topic.delete();

    const outcomes = await publisher.publish([a2, a3, b1]);

    expect(outcomes.map((o) => [o.id, o.ok])).toEqual([
      [a2.id, false],
      [a3.id, false],
      [b1.id, false],
    ]);
    const [first, paused, other] = outcomes.map(errorOf);
    expect(first).toMatchObject({ code: PublishErrorCode.notFound, retryable: false });
    expect(first?.details).toMatchObject({ orderingKey: a2.orderingKey, grpcStatus: 5 });
    expect(paused).toMatchObject({ code: PublishErrorCode.orderingKeyPaused, retryable: false });
    expect(paused?.cause).toBe(first);
    expect(other).toMatchObject({ code: PublishErrorCode.notFound });
    expect(resumed.mock.calls.map(([key]) => key).sort()).toEqual([a2.orderingKey, b1.orderingKey].sort());

    await pubsub.createTopic(topic.name);
    const again = await publisher.publish([a2, a3, b1]);

    expect(again.map((o) => o.ok)).toEqual([true, true, true]);
  });

  it('measures the publish rate on the emulator (printed, not asserted)', async () => {
    const lines: string[] = [];
    for (const { entities, versions } of [
      { entities: 3_000, versions: 1 },
      { entities: 30, versions: 100 },
    ]) {
      const topic = await createTopic('rate');
      // A subscription, as in production, so the emulator stores what it accepts.
      const [subscription] = await topic.createSubscription(uniqueName('rate-pull'), { enableMessageOrdering: true });
      cleanups.push(() => subscription.delete());
      const publisher = publisherOn(topic);
      const messages = interleave(Array.from({ length: entities }, (_, e) => history(run + e, versions)));

      const startedAt = performance.now();
      const outcomes = await publisher.publish(messages);
      const elapsedMs = performance.now() - startedAt;

      expect(outcomes.filter((o) => !o.ok)).toEqual([]);
      lines.push(
        `${messages.length} messages over ${entities} ordering keys: ${Math.round(elapsedMs)} ms, ` +
          `${Math.round((messages.length / elapsedMs) * 1000)} msg/s`,
      );
    }
    console.log(`Pub/Sub emulator publish rate (PubSubEventPublisher defaults):\n  ${lines.join('\n  ')}`);
  }, 120_000);
});

describe('createPubSubPublisher on the emulator: gcp.pubsub.publish reaches the client', () => {
  let run: number;

  beforeEach(() => {
    run = Number.parseInt(randomUUID().slice(0, 6), 16);
  });

  /**
   * The poller's publisher as its main builds it, from a config with `publish` as the
   * `gcp.pubsub.publish` mapping, on a fresh topic with an ordered subscription.
   */
  async function configuredPublisher(
    publish: string,
  ): Promise<{ publisher: PubSubEventPublisher; subscription: string }> {
    const topic = await createTopic('configured');
    const subscription = await orderedPullSubscription(topic);
    const config = parseConfig(
      `backend: gcp
gcp:
  projectId: ${PROJECT}
  pubsub:
    topic: "${topic.name}"
    publish: ${publish}
sources:
  - { name: carts, mode: stream, request: { url: "http://127.0.0.1:1/carts" }, idField: id, table: carts }
`,
      'changefeed.yaml',
    );
    const { publisher, client } = createPubSubPublisher(config, PROJECT, process.env, captureLog('pubsub').logger);
    cleanups.push(async () => {
      await publisher.close();
      await client.close();
    });
    return { publisher, subscription };
  }

  /** Publishes and returns how long until every message was acknowledged, checking none failed. */
  async function timedPublish(publisher: PubSubEventPublisher, messages: readonly OutboundMessage[]): Promise<number> {
    const startedAt = performance.now();
    publishedIds(await publisher.publish(messages));
    return performance.now() - startedAt;
  }

  // The bounds below are lower bounds on waits the settings impose, or far below one they would
  // impose if they did not arrive: a slow machine cannot make them fail.
  it('a batch waits batchMaxDelay for more messages of its key, and goes at once when it holds batchMaxMessages', async () => {
    const waiting = await configuredPublisher('{ batchMaxDelay: 1500ms }');
    const alone = changeToMessage(cartChange(run));

    expect(await timedPublish(waiting.publisher, [alone])).toBeGreaterThanOrEqual(1_400);
    expect((await pullMessages(waiting.subscription, 1)).map((m) => m.attributes['ce-id'])).toEqual([alone.id]);

    const full = await configuredPublisher('{ batchMaxMessages: 2, batchMaxDelay: 1m }');
    const sameKey = [1, 2].map((version) => changeToMessage(cartChange(run + 1, { version })));

    expect(await timedPublish(full.publisher, sameKey)).toBeLessThan(30_000);
  }, 90_000);

  it('holds at most maxOutstandingMessages unacknowledged: with 1, two keys publish one after the other', async () => {
    const { publisher } = await configuredPublisher('{ batchMaxDelay: 1s, maxOutstandingMessages: 1 }');
    const twoKeys = [run, run + 1].map((entity) => changeToMessage(cartChange(entity)));

    expect(await timedPublish(publisher, twoKeys)).toBeGreaterThanOrEqual(1_900);
  });
});

/** A dead-letter topic with its pull subscription (no ordering: see PubSubDeadLetterQueueOptions). */
async function deadLetterTopic(): Promise<{ topic: Topic; queue: PubSubDeadLetterQueue }> {
  const topic = await createTopic('dead-letters');
  const [subscription] = await topic.createSubscription(uniqueName('dead-letters-pull'));
  const queue = new PubSubDeadLetterQueue(subscriber, {
    subscription: subscription.name,
    // The emulator answers an empty pull about a second before the deadline: at once, with 1 s.
    pullTimeoutMs: 1_000,
    logger: captureLog('dlq').logger,
  });
  cleanups.push(() => queue.close());
  return { topic, queue };
}

/**
 * The contract's dead letters are published straight to the dead-letter topic, with the attributes
 * Pub/Sub's forwarding adds (as the emulator adds them: the delivery count, the source subscription
 * and its project, the original publish time): real forwarding takes about five seconds per message
 * on the emulator. That the emulator really forwards, and what the queue makes of it, is the first
 * test of 'PubSubDeadLetterQueue on the emulator' below.
 */
deadLetterQueueContract('PubSubDeadLetterQueue', async () => {
  const { topic, queue } = await deadLetterTopic();
  const forwarder = pubsub.topic(topic.name, { messageOrdering: true });
  return {
    queue,
    async deadLetter(messages) {
      // One at a time, so that their publish times (when they were dead-lettered) are in order.
      for (const m of messages) {
        await forwarder.publishMessage({
          data: m.data,
          attributes: {
            ...m.attributes,
            CloudPubSubDeadLetterSourceDeliveryCount: String(DEAD_LETTER_CONTRACT_ATTEMPTS),
            CloudPubSubDeadLetterSourceSubscription: 'loader-push',
            CloudPubSubDeadLetterSourceSubscriptionProject: PROJECT,
            CloudPubSubDeadLetterSourceTopicPublishTime: new Date().toISOString(),
          },
          ...(m.orderingKey === '' ? {} : { orderingKey: m.orderingKey }),
        });
      }
    },
    async close() {
      await queue.close();
      await forwarder.flush();
    },
  };
});

describe('PubSubDeadLetterQueue on the emulator', () => {
  let run: number;

  beforeEach(() => {
    run = Number.parseInt(randomUUID().slice(0, 6), 16);
  });

  async function listUntil(queue: PubSubDeadLetterQueue, count: number): Promise<DeadLetter[]> {
    let letters: DeadLetter[] = [];
    await waitFor(async () => {
      letters = (await queue.list({ limit: 100 })).letters;
      return letters.length >= count;
    }, `${count} dead letters`);
    return letters;
  }

  it('when the push endpoint answers 500, the emulator dead-letters after 5 attempts; list shows the message as published, and republish puts it back and removes it', async () => {
    const endpoint = new PushEndpoint();
    const pushEndpoint = await endpoint.start();
    const { topic: dlTopic, queue } = await deadLetterTopic();
    const topic = await createTopic('main');
    await topic.createSubscription(uniqueName('push'), {
      pushConfig: { pushEndpoint },
      deadLetterPolicy: { deadLetterTopic: dlTopic.name, maxDeliveryAttempts: 5 },
      // Without ordering: from an ordered subscription the emulator never forwards to the dead-letter
      // topic (it stops after 5 attempts and the key stays blocked). No retryPolicy: without one the
      // emulator retries about once a second, with one it waited about 3 s between attempts.
    });
    const publisher = publisherOn(topic);
    const message = changeToMessage(cartChange(run));
    publishedIds(await publisher.publish([message]));

    const [letter, ...more] = await listUntil(queue, 1);

    if (letter === undefined) throw new Error('no dead letter');
    expect(more).toEqual([]);
    expect(letter.attributes).toEqual(message.attributes);
    expect(letter.data.equals(message.data)).toBe(true);
    expect(letter.orderingKey).toBe(message.orderingKey);
    expect(letter.deliveryAttempts).toBe(5);
    expect(endpoint.pushesOf(message.id)).toHaveLength(5);
    expect(letter.lastFailureAt).toBeInstanceOf(Date);
    expect(letter.lastError).toBeNull();
    // Listing gives every message back: a second list sees the same letter.
    expect((await queue.list()).letters.map((l) => l.handle)).toEqual([letter.handle]);

    endpoint.status = 204;
    const outcomes = await queue.republish([letter], publisher);

    expect(outcomes).toHaveLength(1);
    expect(outcomes[0]).toMatchObject({ handle: letter.handle, ok: true, removed: true });
    await waitFor(() => endpoint.pushesOf(message.id).some((p) => p.status === 204), 'the republished push');
    const redelivered = endpoint.pushesOf(message.id).find((p) => p.status === 204)?.push;
    expect(redelivered?.messageId).toBe(outcomes[0]?.ok === true ? outcomes[0].messageId : 'a message id');
    expect(redelivered?.attributes).toEqual(message.attributes);
    expect(redelivered?.data.equals(message.data)).toBe(true);
    expect((await queue.list()).letters).toEqual([]);
  }, 60_000);

  it('republish to a topic that is gone keeps the letter, with PUBLISH.NOT_FOUND in its outcome', async () => {
    const { topic, queue } = await deadLetterTopic();
    const message = changeToMessage(cartChange(run));
    await topic.publishMessage({ data: message.data, attributes: { ...message.attributes } });
    const {
      letters: [letter],
    } = await queue.list();
    if (letter === undefined) throw new Error('no dead letter');
    const gone = await createTopic('gone');
    const publisherOfGone = publisherOn(gone);
    await gone.delete();

    const [outcome] = await queue.republish([letter, letter], publisherOfGone);

    expect(outcome).toMatchObject({ handle: letter.handle, ok: false });
    expect(outcome?.ok === false ? outcome.error : undefined).toMatchObject({ code: PublishErrorCode.notFound });
    expect((await queue.list()).letters.map((l) => l.handle)).toEqual([letter.handle]);
  });

  it('listing a subscription that does not exist fails with DEAD_LETTER.NOT_FOUND', async () => {
    const queue = new PubSubDeadLetterQueue(subscriber, {
      subscription: `projects/${PROJECT}/subscriptions/${uniqueName('never-made')}`,
      pullTimeoutMs: 1_000,
      logger: captureLog('dlq').logger,
    });

    await expect(queue.list()).rejects.toMatchObject({ code: 'DEAD_LETTER.NOT_FOUND' });
  });

  it('without a limit, stops reading after maxScanMessages and says the listing is incomplete', async () => {
    const { topic, queue: unbounded } = await deadLetterTopic();
    const queue = new PubSubDeadLetterQueue(subscriber, {
      subscription: (await topic.getSubscriptions())[0][0]?.name ?? '',
      pullTimeoutMs: 1_000,
      maxScanMessages: 2,
      logger: captureLog('dlq').logger,
    });
    for (let i = 0; i < 4; i++) {
      const m = changeToMessage(cartChange(run + i));
      await topic.publishMessage({ data: m.data, attributes: { ...m.attributes } });
    }

    const bounded = await queue.list();
    const all = await unbounded.list();

    expect(bounded.complete).toBe(false);
    expect(bounded.letters.length).toBeLessThan(4);
    expect(all.complete).toBe(true);
    expect(all.letters).toHaveLength(4);
  });
});

describe('subscriberClientOptions', () => {
  it('points the v1 client at the emulator with plaintext credentials, because it ignores PUBSUB_EMULATOR_HOST', () => {
    const options = subscriberClientOptions('127.0.0.1:8085');

    expect(options).toMatchObject({ servicePath: '127.0.0.1', port: 8085 });
    expect(options.sslCreds).toBeDefined();
  });

  it('leaves the options empty for the real service', () => {
    expect(subscriberClientOptions(undefined)).toEqual({});
    expect(subscriberClientOptions('')).toEqual({});
  });

  it('refuses an address that is not host:port', () => {
    expect(() => subscriberClientOptions('localhost')).toThrow(ValidationError);
  });
});
