import { randomUUID } from 'node:crypto';
import { Duration, PubSub, type SubscriberOptions, type Subscription, type Topic } from '@google-cloud/pubsub';
import { PubSubPullConsumer, type PullBatchConsumer, type PullResult } from '@changefeed/shared/adapters/gcp';
import type { PushedMessage } from '@changefeed/shared/events';
import { createSilentLogger, type Logger } from '@changefeed/shared/log';
import { captureLog } from '../../support/source-fakes';

/**
 * The loader's pull delivery against the Pub/Sub emulator (StreamingPull over its real wire
 * protocol): batches, acks only after the load, redelivery of what failed, dead-lettering after
 * the subscription's attempts, message ordering, and close() mid-batch; with exactly-once
 * delivery, confirmed acks and a refused one.
 */
const PROJECT = 'changefeed-test';
let pubsub: PubSub;
const cleanups: (() => Promise<unknown>)[] = [];

beforeAll(() => {
  pubsub = new PubSub({ projectId: PROJECT });
});
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => undefined);
});
afterAll(() => pubsub.close());

async function topicWithSubscription(
  options: { deadLetterTopic?: Topic; maxDeliveryAttempts?: number; exactlyOnce?: boolean } = {},
): Promise<{ topic: Topic; subscription: Subscription }> {
  const name = `pull-${randomUUID().slice(0, 8)}`;
  const [topic] = await pubsub.createTopic(name);
  cleanups.push(() => topic.delete());
  const [subscription] = await topic.createSubscription(`${name}-sub`, {
    enableMessageOrdering: true,
    ackDeadlineSeconds: 10,
    retryPolicy: { minimumBackoff: { seconds: 0 }, maximumBackoff: { seconds: 1 } },
    enableExactlyOnceDelivery: options.exactlyOnce ?? false,
    ...(options.deadLetterTopic === undefined
      ? {}
      : {
          deadLetterPolicy: {
            deadLetterTopic: options.deadLetterTopic.name,
            maxDeliveryAttempts: options.maxDeliveryAttempts ?? 5,
          },
        }),
  });
  cleanups.push(() => subscription.delete());
  return { topic, subscription };
}

async function publish(topic: Topic, items: readonly { id: string; key: string }[]): Promise<void> {
  const ordered = pubsub.topic(topic.name, { messageOrdering: true });
  await Promise.all(items.map((item) => ordered.publishMessage({ data: Buffer.from(item.id), orderingKey: item.key })));
}

async function waitFor(condition: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 600; i += 1) {
    if (condition()) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`timed out waiting for ${what}`);
}

function consumer(
  subscription: Subscription,
  consume: PullBatchConsumer,
  batchMaxMessages = 5,
  options: { exactlyOnce?: boolean; logger?: Logger; subscriber?: SubscriberOptions } = {},
): PubSubPullConsumer {
  const c = new PubSubPullConsumer(
    pubsub.subscription(subscription.name, {
      flowControl: { maxMessages: 50, allowExcessMessages: false },
      ...options.subscriber,
    }),
    consume,
    {
      batchMaxMessages,
      batchMaxDelayMs: 50,
      exactlyOnce: options.exactlyOnce ?? false,
      logger: options.logger ?? createSilentLogger(),
    },
  );
  cleanups.push(() => c.close());
  return c;
}

const ok = (messages: readonly PushedMessage[]): Promise<PullResult[]> =>
  Promise.resolve(messages.map((): PullResult => ({ ok: true })));

describe('PubSubPullConsumer on the Pub/Sub emulator', () => {
  it('loads in batches of at most batchMaxMessages, in order per ordering key, and acks what loaded', async () => {
    const { topic, subscription } = await topicWithSubscription();
    const items = Array.from({ length: 30 }, (_, i) => ({ id: `m${i}`, key: `k${i % 3}` }));
    await publish(topic, items);
    const batches: PushedMessage[][] = [];
    const c = consumer(subscription, (messages) => {
      batches.push([...messages]);
      return ok(messages);
    });
    c.start();
    await waitFor(() => c.stats().acked === 30, 'every message acked');

    expect(batches.every((b) => b.length <= 5)).toBe(true);
    const delivered = batches.flat();
    for (const key of ['k0', 'k1', 'k2']) {
      const ofKey = items.filter((i) => i.key === key).map((i) => i.id);
      expect(delivered.filter((m) => m.orderingKey === key).map((m) => m.data.toString())).toEqual(ofKey);
    }
    expect(delivered.every((m) => m.subscription === subscription.name)).toBe(true);
    expect(c.stats()).toMatchObject({ received: 30, acked: 30, nacked: 0 });
  });

  it('nacks what failed to load; Pub/Sub redelivers it, and its batch-mates are not redelivered', async () => {
    const { topic, subscription } = await topicWithSubscription();
    await publish(topic, [
      { id: 'a', key: 'ka' },
      { id: 'flaky', key: 'kf' },
      { id: 'b', key: 'kb' },
    ]);
    const seen: string[] = [];
    let failuresLeft = 2;
    const c = consumer(subscription, (messages) => {
      seen.push(...messages.map((m) => m.data.toString()));
      return Promise.resolve(
        messages.map((m): PullResult => {
          if (m.data.toString() !== 'flaky' || failuresLeft === 0) return { ok: true };
          failuresLeft -= 1;
          return { ok: false, error: 'warehouse unavailable' };
        }),
      );
    });
    c.start();
    await waitFor(() => c.stats().acked === 3, 'all three acked');
    expect(seen.filter((id) => id === 'flaky')).toHaveLength(3);
    expect(seen.filter((id) => id === 'a')).toHaveLength(1);
    expect(seen.filter((id) => id === 'b')).toHaveLength(1);
  });

  it('under a dead-letter policy, a message that keeps failing is offered with its own attempt count up to the limit, and its batch-mates land once', async () => {
    const name = `pull-dlq-${randomUUID().slice(0, 8)}`;
    const [deadLetters] = await pubsub.createTopic(name);
    cleanups.push(() => deadLetters.delete());
    const { topic, subscription } = await topicWithSubscription({
      deadLetterTopic: deadLetters,
      maxDeliveryAttempts: 5,
    });
    await publish(topic, [
      { id: 'poison', key: 'kp' },
      { id: 'fine', key: 'ok' },
    ]);
    const attempts: (number | null)[] = [];
    const c = consumer(subscription, (messages) =>
      Promise.resolve(
        messages.map((m): PullResult => {
          if (m.data.toString() !== 'poison') return { ok: true };
          attempts.push(m.deliveryAttempt);
          return { ok: false, error: 'never stored' };
        }),
      ),
    );
    c.start();
    await waitFor(() => attempts.length === 5, 'five attempts of the poison message');
    expect(attempts).toEqual([1, 2, 3, 4, 5]);
    expect(c.stats()).toMatchObject({ acked: 1, nacked: 5 });
  });

  it('close() mid-batch waits for the load, acks its messages, and takes no more', async () => {
    const { topic, subscription } = await topicWithSubscription();
    await publish(topic, [
      { id: 'a', key: 'ka' },
      { id: 'b', key: 'kb' },
    ]);
    let release: () => void = () => undefined;
    const held = new Promise<void>((resolve) => (release = resolve));
    const loaded: string[] = [];
    const c = consumer(subscription, async (messages) => {
      await held;
      loaded.push(...messages.map((m) => m.data.toString()));
      return messages.map((): PullResult => ({ ok: true }));
    });
    c.start();
    await waitFor(() => c.stats().received === 2, 'both messages received');
    const closed = c.close();
    release();
    await closed;
    expect(loaded.sort()).toEqual(['a', 'b']);
    expect(c.stats()).toMatchObject({ acked: 2, nacked: 0 });

    // Acked for good: a new subscriber gets what is published next, and not a or b again.
    await publish(topic, [{ id: 'c', key: 'kc' }]);
    const again: string[] = [];
    const next = consumer(subscription, (messages) => {
      again.push(...messages.map((m) => m.data.toString()));
      return ok(messages);
    });
    next.start();
    await waitFor(() => again.includes('c'), 'the next message');
    expect(again).toEqual(['c']);
  });

  describe('with exactly-once delivery (loader.pull.exactlyOnce)', () => {
    it('acks count once Pub/Sub confirmed them, close() waits for the answers, and nothing acked comes back', async () => {
      const { topic, subscription } = await topicWithSubscription({ exactlyOnce: true });
      const [metadata] = await subscription.getMetadata();
      expect(metadata.enableExactlyOnceDelivery).toBe(true);
      const items = Array.from({ length: 12 }, (_, i) => ({ id: `m${i}`, key: `k${i % 3}` }));
      await publish(topic, items);
      const loaded: string[] = [];
      const c = consumer(
        subscription,
        (messages) => {
          loaded.push(...messages.map((m) => m.data.toString()));
          return ok(messages);
        },
        5,
        { exactlyOnce: true },
      );
      c.start();
      await waitFor(() => loaded.length === 12, 'every message loaded');
      await c.close();
      expect(c.stats()).toMatchObject({ received: 12, acked: 12, nacked: 0, ackFailed: 0 });

      await publish(topic, [{ id: 'next', key: 'kn' }]);
      const again: string[] = [];
      const next = consumer(
        subscription,
        (messages) => {
          again.push(...messages.map((m) => m.data.toString()));
          return ok(messages);
        },
        5,
        { exactlyOnce: true },
      );
      next.start();
      await waitFor(() => again.includes('next'), 'the next message');
      expect(again).toEqual(['next']);
    });

    it('an ack Pub/Sub refuses (its ack id expired meanwhile) is counted and logged with the message id, and the redelivery is loaded and acked', async () => {
      const { topic, subscription } = await topicWithSubscription({ exactlyOnce: true });
      await publish(topic, [{ id: 'slow', key: 'ks' }]);
      const log = captureLog();
      let release: () => void = () => undefined;
      const held = new Promise<void>((resolve) => (release = resolve));
      const attempts: number[] = [];
      const c: PubSubPullConsumer = consumer(
        subscription,
        async (messages) => {
          attempts.push(messages.length);
          // The first load outlives its lease; the redelivery waits in the buffer meanwhile.
          if (attempts.length === 1) await held;
          // The emulator refuses a whole Acknowledge request when one of its ack ids is stale
          // (Pub/Sub refuses only that id): the redelivery's ack must go out in a request of its own.
          else await waitFor(() => c.stats().ackFailed === 1, 'the refused ack');
          return messages.map((): PullResult => ({ ok: true }));
        },
        5,
        {
          exactlyOnce: true,
          logger: log.logger,
          // No lease extension: the delivery expires after the 10 s ack deadline and comes again.
          subscriber: {
            minAckDeadline: Duration.from({ seconds: 10 }),
            maxAckDeadline: Duration.from({ seconds: 10 }),
            maxExtensionTime: Duration.from({ seconds: 1 }),
          },
        },
      );
      c.start();
      await waitFor(() => c.stats().received === 2, 'the redelivery after the ack deadline');
      release();
      await waitFor(() => c.stats().acked === 1, 'the redelivery acked');
      expect(attempts).toEqual([1, 1]);
      expect(c.stats()).toMatchObject({ received: 2, acked: 1, ackFailed: 1, nacked: 0 });
      const refused = log.lines.filter((l) => String(l['message']).startsWith('Pub/Sub refused an ack'));
      expect(refused).toHaveLength(1);
      expect(refused[0]).toMatchObject({ severity: 'WARNING', orderingKey: 'ks' });
      expect(String(refused[0]?.['messageId'])).not.toBe('');
      expect(String(refused[0]?.['error'])).toContain('INVALID');
    }, 60_000);

    it('on a subscription without the feature, exactlyOnce acks as usual', async () => {
      const { topic, subscription } = await topicWithSubscription();
      await publish(topic, [
        { id: 'a', key: 'ka' },
        { id: 'b', key: 'kb' },
      ]);
      const c = consumer(subscription, ok, 5, { exactlyOnce: true });
      c.start();
      await waitFor(() => c.stats().acked === 2, 'both acked');
      expect(c.stats()).toMatchObject({ nacked: 0, ackFailed: 0 });
    });
  });
});
