import { gzipSync } from 'node:zlib';
import request from 'supertest';
import { buildLoaderApp, type Authenticate, type LoaderApp } from '@changefeed/loader';
import { DuckDbWarehouse } from '@changefeed/shared/adapters/local';
import { loaderSchema } from '@changefeed/shared/config';
import { AppError } from '@changefeed/shared/errors';
import type { PushEnvelope } from '@changefeed/shared/events';
import { listen, type ListeningServer } from '@changefeed/shared/http';
import type { RejectedRow } from '@changefeed/shared/ports';
import { captureLog, FakeClock, type CapturedLog } from '../../support/source-fakes';
import { cartChange, FakeRowSink, pushBodyFor, SUBSCRIPTION, until } from '../../support/loader-fakes';

interface Harness {
  readonly sink: FakeRowSink;
  readonly clock: FakeClock;
  readonly log: CapturedLog;
  readonly loader: LoaderApp;
  readonly server: ListeningServer;
  push(body: unknown, contentType?: string): request.Test;
}

const started: ListeningServer[] = [];

afterEach(async () => {
  await Promise.all(started.splice(0).map((s) => s.close({ force: true })));
});

/** The real app on a real port: group delay 0 so each test's requests flush at once. */
async function startLoader(
  options: { maxBodyBytes?: number; maxRows?: number; authenticate?: Authenticate } = {},
): Promise<Harness> {
  const sink = new FakeRowSink();
  const clock = new FakeClock('2026-11-23T10:00:00.000Z');
  const log = captureLog('loader');
  const config = loaderSchema.parse({
    groupCommitMaxDelay: 0,
    ...(options.maxBodyBytes === undefined ? {} : { maxBodyBytes: options.maxBodyBytes }),
    ...(options.maxRows === undefined ? {} : { groupCommitMaxRows: options.maxRows }),
  });
  const loader = buildLoaderApp({
    rowSink: sink,
    logger: log.logger,
    clock,
    config,
    ...(options.authenticate === undefined ? {} : { authenticate: options.authenticate }),
  });
  const server = await listen(loader.app, { port: 0 });
  started.push(server);
  return {
    sink,
    clock,
    log,
    loader,
    server,
    push: (body, contentType = 'application/json') => {
      const text = typeof body === 'string' || Buffer.isBuffer(body) ? body : JSON.stringify(body);
      return request(server.url).post('/pubsub/push').set('content-type', contentType).send(text);
    },
  };
}

/** The one row in `_rejected`; fails the test when there is not exactly one. */
function onlyRejected(sink: FakeRowSink): RejectedRow {
  expect(sink.rejected).toHaveLength(1);
  const [row] = sink.rejected;
  if (row === undefined) throw new Error('no rejected row');
  return row;
}

function withAttributes(body: PushEnvelope, change: (attributes: Record<string, string>) => void): PushEnvelope {
  const attributes = { ...body.message.attributes };
  change(attributes);
  return { ...body, message: { ...body.message, attributes } };
}

describe('POST /pubsub/push', () => {
  it('with acceptPush false (a pulling loader), has no push endpoint at all and writes nothing', async () => {
    const sink = new FakeRowSink();
    const loader = buildLoaderApp({
      rowSink: sink,
      logger: captureLog('loader').logger,
      clock: new FakeClock('2026-11-23T10:00:00.000Z'),
      config: loaderSchema.parse({ groupCommitMaxDelay: 0 }),
      acceptPush: false,
    });
    const server = await listen(loader.app, { port: 0 });
    started.push(server);
    const res = await request(server.url)
      .post('/pubsub/push')
      .set('content-type', 'application/json')
      .send(JSON.stringify(pushBodyFor(cartChange(1))));
    expect(res.status).toBe(404);
    expect(sink.rowsOf('carts')).toEqual([]);
    expect((await request(server.url).get('/healthz')).status).toBe(200);
  });

  it('writes a binary-mode CloudEvent as one row and answers 204', async () => {
    const { push, sink, loader } = await startLoader();
    const change = cartChange(42);

    const res = await push(pushBodyFor(change, { messageId: 'm-1', deliveryAttempt: 2 }));

    expect(res.status).toBe(204);
    expect(res.text).toBe('');
    expect(sink.rowsOf('carts')).toEqual([
      {
        event_id: change.id,
        event_type: 'updated',
        source: 'carts',
        entity_id: '42',
        version: 2,
        data: JSON.stringify(change.record),
        event_time: new Date('2026-11-23T09:59:58.000Z'),
        publish_time: new Date('2026-11-23T09:59:59.000Z'),
        ingested_at: new Date('2026-11-23T10:00:00.000Z'),
        delivery_attempt: 2,
        message_id: 'm-1',
      },
    ]);
    expect(sink.rejected).toEqual([]);
    expect(loader.stats()).toEqual({ received: 1, written: 1, rejected: 0, failed: 0 });
  });

  it('puts the row in the table named by the event (cftable), not by the source', async () => {
    const { push, sink } = await startLoader();

    await push(pushBodyFor(cartChange(1, { table: 'shop_carts' }))).expect(204);

    expect(sink.changeCalls.map((c) => c.table)).toEqual(['shop_carts']);
  });

  it('accepts a structured-mode CloudEvent (the whole event as the message data)', async () => {
    const { push, sink } = await startLoader();
    const change = cartChange(5);
    const event = {
      specversion: '1.0',
      id: change.id,
      source: '/changefeed/sources/carts',
      type: 'dev.changefeed.entity.updated',
      subject: '5',
      time: change.time.toISOString(),
      datacontenttype: 'application/json',
      cfsource: 'carts',
      cftable: 'carts',
      cfversion: '2',
      data: change.record,
    };
    const body = {
      message: {
        data: Buffer.from(JSON.stringify(event)).toString('base64'),
        attributes: { 'content-type': 'application/cloudevents+json; charset=utf-8' },
        messageId: 'm-structured',
        publishTime: '2026-11-23T09:59:59.000Z',
      },
      subscription: SUBSCRIPTION,
    };

    await push(body).expect(204);

    expect(sink.rowsOf('carts')).toMatchObject([
      { event_id: change.id, entity_id: '5', version: 2, data: JSON.stringify(change.record) },
    ]);
  });

  it('accepts an envelope without orderingKey and deliveryAttempt, as the Pub/Sub emulator sends it', async () => {
    const { push, sink } = await startLoader();

    await push(pushBodyFor(cartChange(3), { orderingKey: null, deliveryAttempt: null })).expect(204);

    expect(sink.rowsOf('carts')).toMatchObject([{ entity_id: '3', delivery_attempt: null }]);
  });

  it('writes a deletion with null data', async () => {
    const { push, sink } = await startLoader();

    await push(pushBodyFor(cartChange(3, { type: 'deleted', version: 4 }))).expect(204);

    expect(sink.rowsOf('carts')).toMatchObject([{ event_type: 'deleted', version: 4, data: null }]);
  });

  it('accepts a gzip-compressed body', async () => {
    const { server, sink } = await startLoader();

    // fetch, because superagent re-encodes a Buffer sent as application/json.
    const res = await fetch(`${server.url}/pubsub/push`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'content-encoding': 'gzip' },
      body: gzipSync(JSON.stringify(pushBodyFor(cartChange(9)))),
    });

    expect(res.status).toBe(204);
    expect(sink.rowsOf('carts')).toHaveLength(1);
  });
});

describe('POST /pubsub/push with a message that can never be valid', () => {
  const good = pushBodyFor(cartChange(1), { messageId: 'm-poison' });
  const binaryWithData = (data: string): PushEnvelope => ({
    ...good,
    message: { ...good.message, data: Buffer.from(data).toString('base64') },
  });

  it.each<[string, unknown, RegExp, { messageId: string | null; subscription?: string | null }]>([
    ['a body that is not JSON', '{"message": nope', /body is not JSON/, { messageId: null, subscription: null }],
    [
      'a JSON body that is not an envelope',
      '"hello"',
      /invalid push envelope/,
      { messageId: null, subscription: null },
    ],
    ['an envelope without a message', { subscription: SUBSCRIPTION }, /message/, { messageId: null }],
    [
      'data that is not base64',
      { ...good, message: { ...good.message, data: '***' } },
      /message\.data/,
      { messageId: 'm-poison' },
    ],
    ['a message without ce-id', withAttributes(good, (a) => delete a['ce-id']), /ce-id/, { messageId: 'm-poison' }],
    [
      'an unknown event type',
      withAttributes(good, (a) => (a['ce-type'] = 'dev.changefeed.entity.moved')),
      /ce-type/,
      { messageId: 'm-poison' },
    ],
    ['event data that is not JSON', binaryWithData('{not json'), /data must be JSON text/, { messageId: 'm-poison' }],
    ['an update whose data is not an object', binaryWithData('42'), /needs a JSON object/, { messageId: 'm-poison' }],
  ])('records %s in _rejected with the reason and acks it', async (_what, body, reason, ids) => {
    const { push, sink, loader, log } = await startLoader();
    const text = typeof body === 'string' ? body : JSON.stringify(body);

    const res = await push(body);

    expect(res.status).toBe(204);
    const { reason: written, ...row } = onlyRejected(sink);
    expect(written).toMatch(reason);
    expect(row).toEqual({
      message_id: ids.messageId,
      subscription: ids.subscription === undefined ? SUBSCRIPTION : ids.subscription,
      payload: text,
      received_at: new Date('2026-11-23T10:00:00.000Z'),
    });
    expect(sink.changes.size).toBe(0);
    expect(loader.stats()).toEqual({ received: 1, written: 0, rejected: 1, failed: 0 });
    expect(log.lines).toContainEqual(
      expect.objectContaining({
        severity: 'WARNING',
        message: 'push message rejected',
        reason: sink.rejected[0]?.reason,
      }),
    );
  });

  it('rejects an empty body', async () => {
    const { push, sink } = await startLoader();

    await push('').expect(204);

    expect(sink.rejected).toMatchObject([{ reason: 'body is empty', payload: '' }]);
  });

  it('rejects a body that is not sent as JSON, keeping it', async () => {
    const { push, sink } = await startLoader();

    await push('hello', 'text/plain').expect(204);

    expect(onlyRejected(sink).reason).toMatch(/content-type text\/plain/);
    expect(onlyRejected(sink).payload).toBe('hello');
  });

  it('rejects a body larger than maxBodyBytes instead of answering 413', async () => {
    const { push, sink } = await startLoader({ maxBodyBytes: 1024 });

    const res = await push({ ...good, padding: 'x'.repeat(2000) });

    expect(res.status).toBe(204);
    expect(onlyRejected(sink).reason).toMatch(/too large.*maxBodyBytes \(1024\)/);
    expect(onlyRejected(sink).payload).toBe('');
  });

  it('rejects a compressed body that does not decompress', async () => {
    const { server, sink } = await startLoader();

    const res = await fetch(`${server.url}/pubsub/push`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'content-encoding': 'gzip' },
      body: Buffer.from('this is not gzip'),
    });

    expect(res.status).toBe(204);
    expect(onlyRejected(sink).reason).toMatch(/gzip data is corrupt/);
  });

  it('rejects a body in a content encoding it cannot read', async () => {
    const { server, sink } = await startLoader();

    const res = await request(server.url)
      .post('/pubsub/push')
      .set('content-type', 'application/json')
      .set('content-encoding', 'x-unknown')
      .send(JSON.stringify(good));

    expect(res.status).toBe(204);
    expect(onlyRejected(sink).reason).toMatch(/content-encoding x-unknown is not supported/);
  });

  it('keeps only the first 64 KiB of a large poison body, and says so', async () => {
    const { push, sink } = await startLoader();
    const garbage = 'ü'.repeat(50_000); // 100,000 bytes of two-byte characters

    await push(garbage).expect(204);

    const row = sink.rejected[0];
    expect(Buffer.byteLength(row?.payload ?? '')).toBeLessThanOrEqual(64 * 1024);
    expect(garbage.startsWith(row?.payload ?? 'x')).toBe(true);
    expect(row?.reason).toMatch(/first \d+ of 100000 bytes/);
  });

  it('answers 5xx when the reject row itself cannot be written, so the bus redelivers', async () => {
    const { push, sink, loader } = await startLoader();
    sink.failNext(1, new AppError('ROWSINK.UNAVAILABLE', 'down', { retryable: true }), 'rejected');

    const res = await push('not json');

    expect(res.status).toBe(503);
    expect(Object.keys(res.body as object)).toEqual(['error']);
    expect(sink.rejected).toEqual([]);
    expect(loader.stats()).toMatchObject({ rejected: 0, failed: 1 });
  });
});

describe('POST /pubsub/push when the warehouse fails', () => {
  it('answers 503 without acking, with no message data in the answer; the redelivery is written', async () => {
    const { push, sink, loader, log } = await startLoader();
    sink.failNext(1, new AppError('ROWSINK.UNAVAILABLE', 'warehouse unavailable', { retryable: true }));
    const body = pushBodyFor(cartChange(8, { record: { id: 8, secretNote: 'do-not-echo' } }));

    const failed = await push(body);
    const retried = await push(body);

    expect(failed.status).toBe(503);
    expect(failed.headers['content-type']).toMatch(/application\/json/);
    expect(Object.keys(failed.body as object)).toEqual(['error']);
    expect(failed.text).not.toContain('do-not-echo');
    expect(retried.status).toBe(204);
    expect(sink.rowsOf('carts')).toHaveLength(1);
    expect(loader.stats()).toEqual({ received: 2, written: 1, rejected: 0, failed: 1 });
    expect(log.lines).toContainEqual(expect.objectContaining({ severity: 'ERROR', status: 503 }));
  });

  it('treats an unknown sink error as transient (503), and a permanent one as 500', async () => {
    const { push, sink } = await startLoader();
    sink.failNext(1, new Error('socket hang up'));
    await push(pushBodyFor(cartChange(1))).expect(503);

    sink.failNext(1, new AppError('ROWSINK.SCHEMA', 'schema mismatch', { retryable: false }));
    await push(pushBodyFor(cartChange(1))).expect(500);
  });
});

describe('group commit over HTTP', () => {
  it('appends 50 concurrent requests in fewer appends, answering each only once its row is stored', async () => {
    const { push, sink, loader } = await startLoader();
    const changes = Array.from({ length: 50 }, (_, i) => cartChange(i + 1));
    const release = sink.hold();
    const answered: { entityId: string; status: number; storedWhenAnswered: boolean }[] = [];

    const requests = changes.map(async (change) => {
      const res = await push(pushBodyFor(change));
      answered.push({
        entityId: change.entityId,
        status: res.status,
        storedWhenAnswered: sink.rowsOf('carts').some((r) => r.event_id === change.id),
      });
    });
    await until(() => loader.batcher.pending() === 50, 'all 50 messages to reach the batcher');
    const answeredWhileHeld = answered.length;
    release();
    await Promise.all(requests);

    expect(answeredWhileHeld).toBe(0);
    expect(answered).toHaveLength(50);
    expect(answered.every((a) => a.status === 204 && a.storedWhenAnswered)).toBe(true);
    expect(sink.changeCalls.length).toBeLessThanOrEqual(2);
    expect(
      sink
        .rowsOf('carts')
        .map((r) => r.entity_id)
        .sort(),
    ).toEqual(changes.map((c) => c.entityId).sort());
  });

  it('on DuckDB: a row the warehouse refuses for good is rejected alone (204, in _rejected); the requests grouped with it land', async () => {
    const warehouse = await DuckDbWarehouse.open(':memory:');
    try {
      const loader = buildLoaderApp({
        rowSink: warehouse,
        logger: captureLog('loader').logger,
        clock: new FakeClock('2026-11-23T10:00:00.000Z'),
        config: loaderSchema.parse({ groupCommitMaxDelay: 0 }),
      });
      const server = await listen(loader.app, { port: 0 });
      started.push(server);
      // delivery_attempt is a 32-bit column: this request's row can never be stored.
      const bodies = Array.from({ length: 10 }, (_, i) =>
        pushBodyFor(cartChange(i + 1), i === 6 ? { deliveryAttempt: 2 ** 31 } : {}),
      );
      const statuses = await Promise.all(
        bodies.map(async (body) => {
          const res = await request(server.url)
            .post('/pubsub/push')
            .set('content-type', 'application/json')
            .send(JSON.stringify(body));
          return res.status;
        }),
      );
      expect(statuses).toEqual(bodies.map(() => 204));
      expect(await warehouse.query('SELECT entity_id FROM carts_changes ORDER BY entity_id::INTEGER')).toEqual(
        [1, 2, 3, 4, 5, 6, 8, 9, 10].map((n) => ({ entity_id: String(n) })),
      );
      const [rejected] = await warehouse.query('SELECT message_id, reason FROM _rejected');
      expect(rejected).toEqual({ message_id: 'm-7-2', reason: expect.stringMatching(/delivery_attempt/) as unknown });
      expect(loader.stats()).toMatchObject({ written: 9, rejected: 1, failed: 0 });
      await loader.close();
    } finally {
      await warehouse.close();
    }
  });

  it('on DuckDB: a version beyond what the warehouse holds is rejected alone among 60 valid events pushed with it', async () => {
    const warehouse = await DuckDbWarehouse.open(':memory:');
    try {
      const loader = buildLoaderApp({
        rowSink: warehouse,
        logger: captureLog('loader').logger,
        clock: new FakeClock('2026-11-23T10:00:00.000Z'),
        config: loaderSchema.parse({ groupCommitMaxDelay: 0 }),
      });
      const server = await listen(loader.app, { port: 0 });
      started.push(server);
      // The review's poison: 16 digits pass a length check, but not the INT64 the loader holds exactly.
      const poison = withAttributes(pushBodyFor(cartChange(61)), (a) => {
        a['ce-cfversion'] = '9999999999999999';
      });
      const bodies = [...Array.from({ length: 60 }, (_, i) => pushBodyFor(cartChange(i + 1))), poison];
      const statuses = await Promise.all(
        bodies.map(
          async (body) =>
            (
              await request(server.url)
                .post('/pubsub/push')
                .set('content-type', 'application/json')
                .send(JSON.stringify(body))
            ).status,
        ),
      );
      expect(statuses).toEqual(bodies.map(() => 204));
      expect(await warehouse.query('SELECT count(*) AS n FROM carts_changes')).toEqual([{ n: 60 }]);
      const rejected = await warehouse.query('SELECT reason FROM _rejected');
      expect(rejected).toEqual([{ reason: expect.stringMatching(/cfversion|version/) as unknown }]);
      expect(loader.stats()).toMatchObject({ written: 60, rejected: 1, failed: 0 });
      await loader.close();
    } finally {
      await warehouse.close();
    }
  });

  it('splits groups at groupCommitMaxRows', async () => {
    const { push, sink, loader } = await startLoader({ maxRows: 4 });
    const release = sink.hold();

    // then() sends the request now; a supertest Test left alone is never sent.
    const requests = Array.from({ length: 10 }, (_, i) =>
      push(pushBodyFor(cartChange(i + 1))).then((res) => res.status),
    );
    await until(() => loader.batcher.pending() === 10, 'all 10 messages to reach the batcher');
    release();

    expect(await Promise.all(requests)).toEqual(Array.from({ length: 10 }, () => 204));
    expect(sink.changeCalls.every((c) => c.rows.length <= 4)).toBe(true);
    expect(sink.rowsOf('carts')).toHaveLength(10);
  });
});

describe('GET /healthz and shutdown', () => {
  it('is ok while taking work, draining once close() started; pushes then get 503', async () => {
    const { server, push, loader, sink } = await startLoader();
    await request(server.url).get('/healthz').expect(200, { status: 'ok' });

    await loader.close();

    await request(server.url).get('/healthz').expect(503, { status: 'draining' });
    await push(pushBodyFor(cartChange(1))).expect(503);
    expect(sink.changes.size).toBe(0);
  });

  it('close() waits for the rows in flight and answers their requests 204', async () => {
    const { push, sink, loader } = await startLoader();
    const release = sink.hold();
    const inFlight = push(pushBodyFor(cartChange(1))).then((r) => r.status);
    await until(() => loader.batcher.pending() === 1, 'the message to reach the batcher');

    const closed = loader.close();
    release();
    await closed;

    await expect(inFlight).resolves.toBe(204);
    expect(sink.rowsOf('carts')).toHaveLength(1);
  });

  it('answers unknown routes with a JSON 404', async () => {
    const { server } = await startLoader();

    const res = await request(server.url).get('/nope');

    expect(res.status).toBe(404);
    expect(res.body).toEqual({ error: 'not found' });
  });
});

describe('authentication hook', () => {
  it.each([401, 403] as const)('answers %i with no detail and stores nothing when refused', async (status) => {
    const seen: (string | undefined)[] = [];
    const { push, sink, loader } = await startLoader({
      authenticate: (req) => {
        seen.push(req.authorization);
        return Promise.resolve({ ok: false, status });
      },
    });

    const res = await push(pushBodyFor(cartChange(1))).set('authorization', 'Bearer bad');

    expect(res.status).toBe(status);
    expect(res.text).toBe('');
    expect(seen).toEqual(['Bearer bad']);
    expect(sink.changes.size).toBe(0);
    expect(sink.rejected).toEqual([]);
    expect(loader.stats().received).toBe(0);
  });

  it('lets an accepted request through', async () => {
    const { push, sink } = await startLoader({ authenticate: () => Promise.resolve({ ok: true }) });

    await push(pushBodyFor(cartChange(1)))
      .set('authorization', 'Bearer good')
      .expect(204);

    expect(sink.rowsOf('carts')).toHaveLength(1);
  });

  it('answers 503 when the check itself fails, so the bus retries', async () => {
    const { push, sink } = await startLoader({ authenticate: () => Promise.reject(new Error('jwks fetch failed')) });

    await push(pushBodyFor(cartChange(1))).expect(503);

    expect(sink.changes.size).toBe(0);
  });
});

describe('request logs', () => {
  it('log one line per outcome with ids, never the record', async () => {
    const { push, log } = await startLoader();
    const change = cartChange(11, { record: { id: 11, email: 'someone@example.com' } });

    await push(pushBodyFor(change, { messageId: 'm-11' })).expect(204);
    await push('{"message": "someone@example.com"').expect(204);

    expect(log.lines).toContainEqual(
      expect.objectContaining({
        severity: 'DEBUG',
        message: 'push message written',
        messageId: 'm-11',
        eventId: change.id,
        subscription: SUBSCRIPTION,
        deliveryAttempt: 1,
      }),
    );
    expect(log.text()).not.toContain('someone@example.com');
  });
});
