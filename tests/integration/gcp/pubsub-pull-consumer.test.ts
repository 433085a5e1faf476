import { randomUUID } from 'node:crypto';
import { PubSub, type Subscription, type Topic } from '@google-cloud/pubsub';
import { PubSubPullConsumer, type PullBatchConsumer, type PullResult } from '@changefeed/shared/adapters/gcp';
import type { PushedMessage } from '@changefeed/shared/events';
import { createSilentLogger } from '@changefeed/shared/log';

/**
 * The loader's pull delivery against the Pub/Sub emulator (StreamingPull over its real wire
 * protocol): batches, acks only after the load, redelivery of what failed, dead-lettering after
 * the subscription's attempts, message ordering, and close() mid-batch.
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
  options: { deadLetterTopic?: Topic; maxDeliveryAttempts?: number } = {},
): Promise<{ topic: Topic; subscription: Subscription }> {
  const name = `pull-${randomUUID().slice(0, 8)}`;
  const [topic] = await pubsub.createTopic(name);
  cleanups.push(() => topic.delete());
  const [subscription] = await topic.createSubscription(`${name}-sub`, {
    enableMessageOrdering: true,
    ackDeadlineSeconds: 10,
    retryPolicy: { minimumBackoff: { seconds: 0 }, maximumBackoff: { seconds: 1 } },
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

function consumer(subscription: Subscription, consume: PullBatchConsumer, batchMaxMessages = 5): PubSubPullConsumer {
  const c = new PubSubPullConsumer(
    pubsub.subscription(subscription.name, { flowControl: { maxMessages: 50, allowExcessMessages: false } }),
    consume,
    { batchMaxMessages, batchMaxDelayMs: 50, logger: createSilentLogger() },
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
});
