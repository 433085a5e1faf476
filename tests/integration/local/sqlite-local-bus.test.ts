import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { SqliteLocalBus, SqliteLocalBusClient, type LocalBusOptions } from '@changefeed/shared/adapters/local';
import { ValidationError } from '@changefeed/shared/errors';
import { changeToMessage, parseChangeMessage, parsePushEnvelope, type PushedMessage } from '@changefeed/shared/events';
import { listen, type ListeningServer } from '@changefeed/shared/http';
import type { OutboundMessage } from '@changefeed/shared/ports';
import { captureLog, FakeClock, type CapturedLog } from '../../support/source-fakes';

/** What the endpoint answers one push with: a status (and body), possibly after a while. */
type Answer = (push: PushedMessage) => Promise<{ status: number; body?: string }> | { status: number; body?: string };

/**
 * A real push endpoint on a free port. It decodes every body with the loader's own parser, records
 * it, and keeps count of concurrent requests overall and per ordering key.
 */
class PushEndpoint {
  readonly received: PushedMessage[] = [];
  answer: Answer = () => ({ status: 204 });
  inFlight = 0;
  maxInFlight = 0;
  readonly maxInFlightPerKey = new Map<string, number>();
  private readonly inFlightPerKey = new Map<string, number>();
  private server: ListeningServer | undefined;

  async start(): Promise<string> {
    this.server = await listen((req, res) => void this.handle(req, res), { port: 0 });
    return `${this.server.url}/pubsub/push`;
  }

  async stop(): Promise<void> {
    await this.server?.close({ force: true });
  }

  /** The message ids received for one ordering key, in arrival order. */
  idsOfKey(key: string): string[] {
    return this.received.filter((p) => p.orderingKey === key).map((p) => p.messageId);
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const push = parsePushEnvelope(JSON.parse(Buffer.concat(chunks).toString('utf8')));
    this.received.push(push);
    const key = push.orderingKey ?? '';
    this.track(key, +1);
    try {
      const { status, body } = await this.answer(push);
      if (!res.destroyed) res.writeHead(status, { 'content-type': 'text/plain' }).end(body ?? '');
    } finally {
      this.track(key, -1);
    }
  }

  private track(key: string, delta: number): void {
    this.inFlight += delta;
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
    if (key === '') return;
    const now = (this.inFlightPerKey.get(key) ?? 0) + delta;
    this.inFlightPerKey.set(key, now);
    this.maxInFlightPerKey.set(key, Math.max(this.maxInFlightPerKey.get(key) ?? 0, now));
  }
}

/** A promise the test resolves when it decides: holds pushes at the endpoint. */
class Gate {
  private readonly waiting: (() => void)[] = [];
  private opened = false;

  wait(): Promise<void> {
    if (this.opened) return Promise.resolve();
    return new Promise((resolve) => this.waiting.push(resolve));
  }

  open(): void {
    this.opened = true;
    for (const resolve of this.waiting.splice(0)) resolve();
  }
}

async function waitFor(condition: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 2000; i += 1) {
    if (condition()) return;
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  throw new Error(`timed out waiting for ${what}`);
}

function message(id: string, orderingKey: string, body: unknown = { id }): OutboundMessage {
  return {
    id,
    orderingKey,
    data: Buffer.from(JSON.stringify(body)),
    attributes: { 'ce-id': id, 'ce-specversion': '1.0', 'content-type': 'application/json' },
  };
}

function okIds(outcomes: Awaited<ReturnType<SqliteLocalBus['publish']>>): string[] {
  return outcomes.map((o) => {
    if (!o.ok) throw o.error;
    return o.messageId;
  });
}

function warnings(log: CapturedLog): Record<string, unknown>[] {
  return log.lines.filter((l) => l['severity'] === 'WARNING');
}

describe('SqliteLocalBus', () => {
  let dir: string;
  let endpoint: PushEndpoint;
  let endpointUrl: string;
  let log: CapturedLog;
  const buses: SqliteLocalBus[] = [];

  beforeEach(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'local-bus-'));
    endpoint = new PushEndpoint();
    endpointUrl = await endpoint.start();
    log = captureLog('bus');
  });

  afterEach(async () => {
    for (const bus of buses.splice(0)) await bus.close();
    await endpoint.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  function openBus(overrides: Partial<LocalBusOptions> = {}): SqliteLocalBus {
    const bus = SqliteLocalBus.open({
      file: path.join(dir, 'bus.sqlite'),
      pushEndpoint: endpointUrl,
      subscription: 'projects/local/subscriptions/changefeed-loader',
      maxDeliveryAttempts: 5,
      minBackoffMs: 1,
      maxBackoffMs: 10,
      concurrency: 8,
      ackDeadlineMs: 5_000,
      idlePollMs: 10,
      logger: log.logger,
      ...overrides,
    });
    buses.push(bus);
    return bus;
  }

  it('delivers the real push envelope that the loader parses, change event included', async () => {
    const clock = new FakeClock('2026-01-02T03:04:05.678Z');
    const bus = openBus({ clock });
    const change = changeToMessage({
      id: 'evt-1',
      type: 'created',
      source: 'carts',
      table: 'carts',
      entityId: '42',
      version: 1,
      time: new Date('2026-01-02T03:00:00.000Z'),
      record: { id: 42, total: 9.5 },
    });

    const outcomes = await bus.publish([change]);
    bus.start();
    await bus.waitUntilIdle();

    expect(outcomes).toEqual([{ id: 'evt-1', ok: true, messageId: expect.any(String) as string }]);
    const [pushed] = endpoint.received;
    expect(endpoint.received).toHaveLength(1);
    expect(pushed).toEqual({
      messageId: okIds(outcomes)[0],
      subscription: 'projects/local/subscriptions/changefeed-loader',
      data: change.data,
      attributes: change.attributes,
      publishTime: new Date('2026-01-02T03:04:05.678Z'),
      orderingKey: 'carts/42',
      deliveryAttempt: 1,
    });
    const event = parseChangeMessage(pushed!.data, pushed!.attributes);
    expect(event).toMatchObject({ id: 'evt-1', type: 'created', entityId: '42', record: { id: 42, total: 9.5 } });
  });

  it('assigns increasing message ids, never reused after the messages are gone', async () => {
    const bus = openBus();
    const first = okIds(await bus.publish([message('a', 'k'), message('b', '')]));
    bus.start();
    await bus.waitUntilIdle();
    await bus.close();

    const second = okIds(await openBus().publish([message('c', 'k')]));

    const all = [...first, ...second].map(Number);
    expect(all).toEqual([...all].sort((x, y) => x - y));
    expect(new Set(all).size).toBe(3);
  });

  it('keeps order per key while the endpoint answers slowly, out of order, and sometimes fails', async () => {
    const bus = openBus({ concurrency: 4 });
    const keys = ['carts/1', 'carts/2', 'carts/3'];
    const published: OutboundMessage[] = [];
    for (let i = 0; i < 6; i += 1) for (const key of keys) published.push(message(`${key}#${i}`, key));
    const failedOnce = new Set<string>();
    endpoint.answer = async (push) => {
      const id = push.attributes['ce-id'] ?? '';
      const index = Number(id.split('#')[1]);
      // Earlier messages answer later, so a bus that sent the next one early would see it overtake.
      await new Promise((resolve) => setTimeout(resolve, (6 - index) * 3));
      if (index === 2 && !failedOnce.has(id)) {
        failedOnce.add(id);
        return { status: 503, body: 'busy' };
      }
      return { status: 204 };
    };

    const ids = okIds(await bus.publish(published));
    bus.start();
    await bus.waitUntilIdle();

    for (const key of keys) {
      const expected = published.flatMap((m, i) => (m.orderingKey === key ? [ids[i]] : []));
      const received = endpoint.idsOfKey(key);
      // The failed third message is pushed twice in a row; nothing of its key overtakes it.
      expect(received).toEqual([...expected.slice(0, 3), ...expected.slice(2)]);
      expect(endpoint.maxInFlightPerKey.get(key)).toBe(1);
    }
    expect(endpoint.maxInFlight).toBeGreaterThan(1);
  });

  it('stores a large publish exactly and keeps each key in order, whether the key was queued before or first seen in the same publish', async () => {
    // More rows than one multi-row INSERT and more keys than one key lookup take, so full chunks,
    // the remainder and several lookups all run; the odd keys must match their own queued rows.
    const oddKeys = ['carts/é', 'carts/🛒', "carts/it's", 'carts/%2F', 'carts/ '];
    const keys = [...oddKeys, ...Array.from({ length: 640 }, (_, i) => `carts/${i}`)];
    const earlier = oddKeys.map((key, i) => message(`early${i}`, key, { key, i, text: 'ünïcødé ✓' }));
    const published: OutboundMessage[] = [];
    for (let i = 0; i < 1234; i += 1) {
      const key = i % 97 === 0 ? '' : (keys[(i * 7) % keys.length] ?? '');
      published.push(message(`m${i}`, key, { i, nested: { list: [i, 'x', null] } }));
    }
    const delivered: PushedMessage[] = [];
    const bus = openBus({
      batches: {
        batchSize: 300,
        consume: (batch) => {
          delivered.push(...batch);
          return Promise.resolve(batch.map(() => ({ ok: true as const })));
        },
      },
    });

    okIds(await bus.publish(earlier));
    const ids = okIds(await bus.publish(published));
    bus.start();
    await bus.waitUntilIdle();

    const all = [...earlier, ...published];
    expect(ids).toHaveLength(published.length);
    expect(delivered).toHaveLength(all.length);
    const byId = new Map(delivered.map((d) => [d.attributes['ce-id'], d]));
    for (const m of all) {
      const d = byId.get(m.id);
      expect(d?.data.equals(m.data)).toBe(true);
      expect(d?.attributes).toEqual(m.attributes);
      expect(d?.orderingKey ?? '').toBe(m.orderingKey);
    }
    for (const key of keys) {
      const expected = all.filter((m) => m.orderingKey === key).map((m) => m.id);
      expect(delivered.filter((d) => d.orderingKey === key).map((d) => d.attributes['ce-id'])).toEqual(expected);
    }
  });

  it('delivers different keys, and messages without a key, concurrently up to the concurrency', async () => {
    const bus = openBus({ concurrency: 3 });
    const gate = new Gate();
    endpoint.answer = async () => {
      await gate.wait();
      return { status: 204 };
    };
    const messages = ['a', 'b', 'c', 'd', 'e'].map((k) => message(`m-${k}`, `key-${k}`));
    messages.push(message('free-1', ''), message('free-2', ''), message('free-3', ''));

    await bus.publish(messages);
    bus.start();
    await waitFor(() => endpoint.inFlight === 3, 'three pushes held at the endpoint');
    // A few idle polls in which a bus ignoring its bound would send more.
    await new Promise((resolve) => setTimeout(resolve, 50));
    const whileHeld = bus.stats();
    const maxWhileHeld = endpoint.maxInFlight;
    gate.open();
    await bus.waitUntilIdle();

    expect(maxWhileHeld).toBe(3);
    expect(whileHeld).toMatchObject({ inFlight: 3, pending: 5 });
    expect(endpoint.maxInFlight).toBe(3);
    expect(endpoint.received.map((p) => p.attributes['ce-id']).sort()).toEqual(messages.map((m) => m.id).sort());
  });

  it('when the endpoint answers 500, retries with growing delays, dead-letters, then the key moves on', async () => {
    const bus = openBus({ maxDeliveryAttempts: 4, minBackoffMs: 2, maxBackoffMs: 100, random: () => 0.999999 });
    endpoint.answer = (push) =>
      push.attributes['ce-id'] === 'poison' ? { status: 500, body: 'warehouse\n  down' } : { status: 204 };
    const poison = message('poison', 'carts/7', { secret: 'payload-must-not-be-logged' });

    const [poisonId, nextId] = okIds(await bus.publish([poison, message('next', 'carts/7')]));
    bus.start();
    await bus.waitUntilIdle();

    expect(endpoint.received.map((p) => [p.messageId, p.deliveryAttempt])).toEqual([
      [poisonId, 1],
      [poisonId, 2],
      [poisonId, 3],
      [poisonId, 4],
      [nextId, 1],
    ]);
    const failures = warnings(log).filter((l) => l['message'] === 'push delivery failed');
    expect(failures.map((l) => l['retryInMs'])).toEqual([2, 4, 8, undefined]);
    expect(failures[0]).toMatchObject({
      messageId: poisonId,
      orderingKey: 'carts/7',
      deliveryAttempt: 1,
      status: 500,
      error: 'HTTP 500: warehouse down',
    });
    const deadLetterLines = log.lines.filter((l) => l['severity'] === 'ERROR');
    expect(deadLetterLines).toHaveLength(1);
    expect(deadLetterLines[0]).toMatchObject({ messageId: poisonId, deliveryAttempts: 4 });
    expect(log.text()).not.toContain('payload-must-not-be-logged');
    expect(log.text()).not.toContain(poison.data.toString('base64'));

    const [dead] = (await bus.list({ limit: 10 })).letters;
    expect(dead).toMatchObject({
      messageId: poisonId,
      orderingKey: 'carts/7',
      data: poison.data,
      attributes: poison.attributes,
      deliveryAttempts: 4,
      lastError: 'HTTP 500: warehouse down',
    });
    expect(dead!.firstFailureAt!.getTime()).toBeLessThanOrEqual(dead!.lastFailureAt!.getTime());
    expect(bus.stats()).toMatchObject({ pending: 0, inFlight: 0, delivered: 1, deadLettered: 1 });
  });

  it('counts a push with no answer within the ack deadline as a failed attempt', async () => {
    // Generous enough that the second, prompt answer never misses it on a loaded machine.
    const bus = openBus({ ackDeadlineMs: 250 });
    const never = new Gate();
    let calls = 0;
    endpoint.answer = async () => {
      calls += 1;
      if (calls === 1) await never.wait();
      return { status: 204 };
    };

    const [id] = okIds(await bus.publish([message('slow', 'k')]));
    bus.start();
    await bus.waitUntilIdle();
    never.open();

    expect(endpoint.received.map((p) => [p.messageId, p.deliveryAttempt])).toEqual([
      [id, 1],
      [id, 2],
    ]);
    expect(warnings(log)[0]).toMatchObject({
      deliveryAttempt: 1,
      error: expect.stringContaining('ack deadline') as string,
    });
    expect(bus.stats()).toMatchObject({ delivered: 1, deadLettered: 0 });
  });

  it('counts a refused connection as a failed attempt and dead-letters with the error', async () => {
    const closed = new PushEndpoint();
    const closedUrl = await closed.start();
    await closed.stop();
    const bus = openBus({ pushEndpoint: closedUrl, maxDeliveryAttempts: 2 });

    await bus.publish([message('m', 'k')]);
    bus.start();
    await bus.waitUntilIdle();

    const [dead] = (await bus.list({ limit: 10 })).letters;
    expect(dead?.deliveryAttempts).toBe(2);
    expect(dead?.lastError).toContain('ECONNREFUSED');
  });

  it('delivers after a reopen what was published and never delivered before the bus closed', async () => {
    const clock = new FakeClock('2026-03-01T00:00:00.000Z');
    const first = openBus({ clock });
    const ids = okIds(await first.publish([message('a', 'k1'), message('b', 'k1'), message('c', '')]));
    await first.close();

    const reopened = openBus({ clock });
    const before = reopened.stats();
    reopened.start();
    await reopened.waitUntilIdle();

    expect(before).toEqual({
      pending: 3,
      inFlight: 0,
      delivered: 0,
      deadLettered: 0,
      oldestPendingAt: new Date('2026-03-01T00:00:00.000Z'),
    });
    expect(endpoint.received.map((p) => p.messageId).sort()).toEqual([...ids].sort());
    expect(endpoint.idsOfKey('k1')).toEqual(ids.slice(0, 2));
    expect(reopened.stats()).toMatchObject({ pending: 0, delivered: 3, oldestPendingAt: null });
  });

  it('redelivers a message that was in flight when its process was killed', async () => {
    const file = path.join(dir, 'bus.sqlite');
    const publisher = openBus();
    const [id] = okIds(await publisher.publish([message('m', 'carts/1'), message('after', 'carts/1')]));
    await publisher.close();
    const held = new Gate();
    endpoint.answer = async () => {
      await held.wait();
      return { status: 204 };
    };

    const child = spawn(
      process.execPath,
      [
        '-r',
        path.join(__dirname, '../../support/ts-register.js'),
        path.join(__dirname, 'fixtures/run-local-bus.ts'),
        JSON.stringify({ file, pushEndpoint: endpointUrl }),
      ],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    const exited = new Promise((resolve) => child.once('exit', resolve));
    await waitFor(() => endpoint.received.length === 1, 'the child process to push the message');
    child.kill('SIGKILL');
    await exited;
    held.open();
    endpoint.answer = () => ({ status: 204 });

    const restarted = openBus();
    const afterCrash = restarted.stats();
    restarted.start();
    await restarted.waitUntilIdle();

    expect(afterCrash).toMatchObject({ pending: 2, inFlight: 0, delivered: 0 });
    expect(endpoint.idsOfKey('carts/1')).toEqual([id, id, expect.any(String)]);
    expect(endpoint.received[1]?.deliveryAttempt).toBe(1);
  });

  it('waitUntilIdle resolves at once when empty, and rejects when its signal aborts first', async () => {
    const bus = openBus();
    await expect(bus.waitUntilIdle()).resolves.toBeUndefined();

    await bus.publish([message('m', 'k')]);
    const controller = new AbortController();
    const waiting = bus.waitUntilIdle(controller.signal);
    controller.abort(new Error('gave up'));

    await expect(waiting).rejects.toThrow('gave up');
    bus.start();
    await expect(bus.waitUntilIdle()).resolves.toBeUndefined();
  });

  it('republished to itself, a dead letter is delivered again with the same content and ordering key, once the endpoint is fixed', async () => {
    const bus = openBus({ maxDeliveryAttempts: 2 });
    endpoint.answer = () => ({ status: 503, body: 'down' });
    const original = message('m', 'carts/9');
    okIds(await bus.publish([original]));
    bus.start();
    await bus.waitUntilIdle();
    const { letters } = await bus.list();
    endpoint.answer = () => ({ status: 204 });

    const outcomes = await bus.republish(letters, bus);
    await bus.waitUntilIdle();

    expect(outcomes).toHaveLength(1);
    expect(outcomes[0]).toMatchObject({ handle: letters[0]?.handle, ok: true, removed: true });
    expect(endpoint.received.at(-1)).toMatchObject({
      messageId: outcomes[0]?.ok === true ? outcomes[0].messageId : 'an id',
      data: original.data,
      attributes: original.attributes,
      orderingKey: 'carts/9',
      deliveryAttempt: 1,
    });
    expect((await bus.list()).letters).toEqual([]);
    expect(bus.stats()).toMatchObject({ pending: 0, delivered: 1, deadLettered: 0 });
  });

  it('delivers dead letters that another process republishes into the running bus file', async () => {
    const running = openBus({ maxDeliveryAttempts: 1 });
    endpoint.answer = () => ({ status: 500 });
    okIds(await running.publish([message('m', 'carts/3')]));
    running.start();
    await running.waitUntilIdle();
    endpoint.answer = () => ({ status: 204 });

    // What `changefeed dlq replay` does while the pipeline runs: a client of the same file.
    const replayer = SqliteLocalBusClient.open(path.join(dir, 'bus.sqlite'), { logger: log.logger });
    try {
      const { letters } = await replayer.list();
      const [outcome] = await replayer.republish(letters, replayer);
      await waitFor(() => running.stats().delivered === 1, 'the running bus to pick the message up');

      expect(outcome).toMatchObject({ ok: true, removed: true });
      expect(endpoint.received.map((p) => [p.attributes['ce-id'], p.deliveryAttempt])).toEqual([
        ['m', 1],
        ['m', 1],
      ]);
      expect(running.stats()).toMatchObject({ pending: 0, inFlight: 0, deadLettered: 0 });
    } finally {
      await replayer.close();
    }
  });

  it('acknowledge removes dead letters and ignores unknown handles', async () => {
    const bus = openBus({ maxDeliveryAttempts: 1 });
    endpoint.answer = () => ({ status: 500 });
    await bus.publish([message('a', 'k1'), message('b', 'k2')]);
    bus.start();
    await bus.waitUntilIdle();
    const first = (await bus.list()).letters.find((l) => l.attributes['ce-id'] === 'a');

    await bus.acknowledge([first?.handle ?? '', 'nope']);

    const rest = (await bus.list()).letters;
    expect(rest.map((d) => d.attributes['ce-id'])).toEqual(['b']);
    expect(bus.stats().deadLettered).toBe(1);
  });

  it('reports pending, in flight, delivered, dead-lettered and the oldest pending time', async () => {
    const clock = new FakeClock('2026-05-05T05:05:05.000Z');
    const bus = openBus({ clock, maxDeliveryAttempts: 1 });
    const gate = new Gate();
    endpoint.answer = async (push) => {
      await gate.wait();
      return { status: push.attributes['ce-id'] === 'bad' ? 500 : 204 };
    };
    await bus.publish([message('k-1', 'k'), message('k-2', 'k'), message('j-1', 'j'), message('bad', '')]);
    clock.advance(1000);
    await bus.publish([message('late', 'z')]);
    const beforeStart = bus.stats();

    bus.start();
    await waitFor(() => endpoint.inFlight === 4, 'every head of key in flight');
    const whileHeld = bus.stats();
    gate.open();
    await bus.waitUntilIdle();

    expect(beforeStart).toEqual({
      pending: 5,
      inFlight: 0,
      delivered: 0,
      deadLettered: 0,
      oldestPendingAt: new Date('2026-05-05T05:05:05.000Z'),
    });
    expect(whileHeld).toMatchObject({ pending: 1, inFlight: 4 });
    expect(bus.stats()).toEqual({ pending: 0, inFlight: 0, delivered: 4, deadLettered: 1, oldestPendingAt: null });
  });

  it('stop waits for pushes in flight and records their outcome', async () => {
    const bus = openBus();
    const gate = new Gate();
    endpoint.answer = async () => {
      await gate.wait();
      return { status: 204 };
    };
    await bus.publish([message('a', 'k'), message('b', 'k')]);
    bus.start();
    await waitFor(() => endpoint.inFlight === 1, 'the first push');

    const stopping = bus.stop();
    gate.open();
    await stopping;

    expect(bus.stats()).toMatchObject({ pending: 1, inFlight: 0, delivered: 1 });
    expect(endpoint.received).toHaveLength(1);
  });

  it('refuses unusable options, naming each', () => {
    let error: unknown;
    try {
      openBus({ concurrency: 0, pushEndpoint: 'ftp://x', minBackoffMs: 5, maxBackoffMs: 1 });
    } catch (e: unknown) {
      error = e;
    }

    expect(error).toBeInstanceOf(ValidationError);
    expect((error as ValidationError).issues.map((i) => i.path)).toEqual([
      'concurrency',
      'maxBackoffMs',
      'pushEndpoint',
    ]);
  });
});
