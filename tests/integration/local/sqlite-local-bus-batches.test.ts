import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { SqliteLocalBus, type BatchConsumer, type ConsumeResult } from '@changefeed/shared/adapters/local';
import type { PushedMessage } from '@changefeed/shared/events';
import type { OutboundMessage } from '@changefeed/shared/ports';
import { captureLog } from '../../support/source-fakes';

/**
 * The local bus handing batches to an in-process consumer (what the local pipeline's loader
 * takes by default) instead of one HTTP push per message: ordering per key, one outcome per
 * message, each message's own attempt count towards the dead letters.
 */

function message(id: string, orderingKey: string): OutboundMessage {
  return { id, orderingKey, data: Buffer.from(JSON.stringify({ id })), attributes: { 'ce-id': id } };
}

async function waitFor(condition: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 2000; i += 1) {
    if (condition()) return;
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  throw new Error(`timed out waiting for ${what}`);
}

describe('SqliteLocalBus with batched delivery', () => {
  let dir: string;
  const buses: SqliteLocalBus[] = [];
  beforeEach(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'local-bus-batches-'));
  });
  afterEach(async () => {
    for (const bus of buses.splice(0)) await bus.close();
    rmSync(dir, { recursive: true, force: true });
  });

  function openBus(consume: BatchConsumer, batchSize: number, maxDeliveryAttempts = 3): SqliteLocalBus {
    const bus = SqliteLocalBus.open({
      file: path.join(dir, 'bus.sqlite'),
      pushEndpoint: '',
      batches: { consume, batchSize },
      subscription: 'projects/local/subscriptions/changefeed-loader',
      maxDeliveryAttempts,
      minBackoffMs: 1,
      maxBackoffMs: 5,
      concurrency: 8,
      ackDeadlineMs: 5_000,
      idlePollMs: 1_000,
      logger: captureLog('bus').logger,
    });
    buses.push(bus);
    return bus;
  }

  it('delivers in batches of at most batchSize, one message per ordering key per batch, in publish order', async () => {
    const batches: PushedMessage[][] = [];
    let inFlight = 0;
    let maxInFlight = 0;
    const bus = openBus(async (messages) => {
      inFlight += 1;
      maxInFlight = Math.max(maxInFlight, inFlight);
      batches.push([...messages]);
      await new Promise((resolve) => setTimeout(resolve, 2));
      inFlight -= 1;
      return messages.map((): ConsumeResult => ({ ok: true }));
    }, 4);
    // 10 keys with 3 messages each.
    const published = Array.from({ length: 30 }, (_, i) => message(`m${i}`, `k${i % 10}`));
    await bus.publish(published);
    bus.start();
    await bus.waitUntilIdle();

    expect(batches.every((b) => b.length <= 4)).toBe(true);
    expect(batches.every((b) => new Set(b.map((m) => m.orderingKey)).size === b.length)).toBe(true);
    expect(maxInFlight).toBe(1);
    const delivered = batches.flat();
    const idOf = (m: PushedMessage): string => (JSON.parse(m.data.toString()) as { id: string }).id;
    expect(delivered.map(idOf).sort()).toEqual(published.map((m) => m.id).sort());
    for (let k = 0; k < 10; k++) {
      const ofKey = delivered
        .filter((m) => m.orderingKey === `k${k}`)
        .map((m) => JSON.parse(m.data.toString()) as unknown);
      expect(ofKey).toEqual([{ id: `m${k}` }, { id: `m${k + 10}` }, { id: `m${k + 20}` }]);
    }
    expect(delivered.every((m) => m.deliveryAttempt === 1)).toBe(true);
    expect(bus.stats()).toMatchObject({ pending: 0, inFlight: 0, delivered: 30, deadLettered: 0 });
  });

  it('retries a failed message on its own and dead-letters it after its own last attempt; its batch-mates land', async () => {
    const attemptsOfPoison: number[] = [];
    const bus = openBus(
      (messages) =>
        Promise.resolve(
          messages.map((m): ConsumeResult => {
            if (!m.data.toString().includes('poison')) return { ok: true };
            attemptsOfPoison.push(m.deliveryAttempt ?? 0);
            return { ok: false, error: 'warehouse unavailable' };
          }),
        ),
      10,
    );
    await bus.publish([message('a', 'ka'), message('poison', 'kp'), message('b', 'kb'), message('after', 'kp')]);
    bus.start();
    await waitFor(() => bus.stats().deadLettered === 1 && bus.stats().delivered === 3, 'the poison dead-lettered');

    expect(attemptsOfPoison).toEqual([1, 2, 3]);
    const [letter] = (await bus.list()).letters;
    expect(letter).toMatchObject({ orderingKey: 'kp', deliveryAttempts: 3, lastError: 'warehouse unavailable' });
  });

  it('a consumer that throws fails the whole batch, which is delivered again', async () => {
    let calls = 0;
    const bus = openBus((messages) => {
      calls += 1;
      if (calls === 1) return Promise.reject(new Error('boom'));
      return Promise.resolve(messages.map((): ConsumeResult => ({ ok: true })));
    }, 10);
    await bus.publish([message('a', 'ka'), message('b', 'kb')]);
    bus.start();
    await bus.waitUntilIdle();
    // Both come back after their own (jittered) backoff: in one batch or in two.
    expect(calls === 2 || calls === 3).toBe(true);
    expect(bus.stats()).toMatchObject({ delivered: 2, deadLettered: 0 });
  });

  it('stop() waits for the batch in flight and records its outcomes', async () => {
    let release: () => void = () => undefined;
    const held = new Promise<void>((resolve) => (release = resolve));
    const bus = openBus(async (messages) => {
      await held;
      return messages.map((): ConsumeResult => ({ ok: true }));
    }, 10);
    await bus.publish([message('a', 'ka'), message('b', 'kb')]);
    bus.start();
    await waitFor(() => bus.stats().inFlight === 2, 'the batch in flight');
    const stopped = bus.stop();
    release();
    await stopped;
    expect(bus.stats()).toMatchObject({ inFlight: 0, pending: 0, delivered: 2 });
  });

  it('refuses a batch size below 1', () => {
    expect(() => openBus(() => Promise.resolve([]), 0)).toThrow(/batches: expected an integer >= 1/);
  });
});
