import {
  createBatchLoader,
  createPushHandler,
  MessageBatcher,
  truncateUtf8,
  type PushRequest,
} from '@changefeed/loader';
import { AppError } from '@changefeed/shared/errors';
import { createSilentLogger } from '@changefeed/shared/log';
import { FakeClock } from '../../support/source-fakes';
import { cartChange, FakeRowSink, pushBodyFor, SUBSCRIPTION } from '../../support/loader-fakes';

function setup() {
  const sink = new FakeRowSink();
  const clock = new FakeClock('2026-11-23T10:00:00.000Z');
  const logger = createSilentLogger();
  const load = createBatchLoader({ sink, clock, logger, rejectedPayloadMaxBytes: 32 });
  const batcher = new MessageBatcher(load, { maxMessages: 100, maxDelayMs: 0, clock });
  const handle = createPushHandler({ batcher, logger });
  return { sink, handle };
}

const json = (body: unknown): PushRequest => ({
  body: Buffer.from(JSON.stringify(body)),
  contentType: 'application/json; charset=utf-8',
});

describe('createPushHandler', () => {
  it('writes a valid message and answers 204 with its ids', async () => {
    const { sink, handle } = setup();
    const change = cartChange(1);

    const outcome = await handle(json(pushBodyFor(change, { messageId: 'm-1' })));

    expect(outcome).toEqual({ kind: 'written', status: 204, messageId: 'm-1', eventId: change.id });
    expect(sink.rowsOf('carts')).toHaveLength(1);
  });

  it('accepts a request without content-type, and application/*+json', async () => {
    const { sink, handle } = setup();

    await handle({ body: json(pushBodyFor(cartChange(1))).body, contentType: undefined });
    await handle({ body: json(pushBodyFor(cartChange(2))).body, contentType: 'application/vnd.pubsub+json' });

    expect(sink.rowsOf('carts')).toHaveLength(2);
  });

  it('rejects what the HTTP layer could not read with the reason it gives', async () => {
    const { sink, handle } = setup();

    const outcome = await handle({ body: Buffer.alloc(0), contentType: 'application/json', unreadable: 'too big' });

    expect(outcome).toEqual({ kind: 'rejected', status: 204, reason: 'too big' });
    expect(sink.rejected).toMatchObject([{ reason: 'too big', message_id: null, subscription: null, payload: '' }]);
  });

  it('reads the message id and subscription of an invalid envelope when they are there', async () => {
    const { sink, handle } = setup();

    await handle(json({ message: { messageId: 'm-9' }, subscription: SUBSCRIPTION }));

    expect(sink.rejected).toMatchObject([{ message_id: 'm-9', subscription: SUBSCRIPTION }]);
    expect(sink.rejected[0]?.reason).toMatch(/message\.publishTime/);
  });

  it('keeps a bounded prefix of a large poison body and says how much', async () => {
    const { sink, handle } = setup();

    await handle({ body: Buffer.from('x'.repeat(100)), contentType: 'application/json' });

    expect(sink.rejected[0]?.payload).toBe('x'.repeat(32));
    expect(sink.rejected[0]?.reason).toBe('body is not JSON [payload: first 32 of 100 bytes]');
  });

  it('keeps the whole request body of a valid envelope whose message is not a change, attributes and all', async () => {
    const { sink, handle } = setup();
    const body = pushBodyFor(cartChange(1), { messageId: 'm-2' });
    const request = json({ ...body, message: { ...body.message, attributes: { 'ce-id': 'x' } } });

    const outcome = await handle(request);

    expect(outcome).toMatchObject({ kind: 'rejected', status: 204 });
    expect(sink.rejected).toMatchObject([
      { message_id: 'm-2', subscription: SUBSCRIPTION, payload: request.body.subarray(0, 32).toString() },
    ]);
    expect(sink.rejected[0]?.reason).toContain(`[payload: first 32 of ${request.body.length} bytes]`);
  });

  it('answers 503 once the batcher is closed, storing nothing', async () => {
    const sink = new FakeRowSink();
    const clock = new FakeClock('2026-11-23T10:00:00.000Z');
    const logger = createSilentLogger();
    const batcher = new MessageBatcher(createBatchLoader({ sink, clock, logger }), {
      maxMessages: 100,
      maxDelayMs: 0,
      clock,
    });
    await batcher.close();

    const outcome = await createPushHandler({ batcher, logger })(json(pushBodyFor(cartChange(1))));

    expect(outcome).toMatchObject({ kind: 'failed', status: 503, error: { code: 'LOADER.CLOSING' } });
    expect(sink.appendsStarted).toBe(0);
  });

  it('fails with 503 on a transient sink error and 500 on a permanent one, storing nothing', async () => {
    const { sink, handle } = setup();
    const transient = new AppError('ROWSINK.UNAVAILABLE', 'down', { retryable: true });
    const permanent = new AppError('ROWSINK.SCHEMA', 'bad schema', { retryable: false });
    sink.failNext(1, transient);
    sink.failNext(1, permanent);

    const first = await handle(json(pushBodyFor(cartChange(1))));
    const second = await handle(json(pushBodyFor(cartChange(1))));

    expect(first).toEqual({ kind: 'failed', status: 503, error: transient });
    expect(second).toEqual({ kind: 'failed', status: 500, error: permanent });
    expect(sink.rowsOf('carts')).toEqual([]);
  });
});

describe('truncateUtf8', () => {
  it('returns a short body whole', () => {
    expect(truncateUtf8(Buffer.from('héllo'), 10)).toBe('héllo');
  });

  it('never cuts a multi-byte character in half', () => {
    const body = Buffer.from('aé€😀'); // 1 + 2 + 3 + 4 bytes

    expect([1, 2, 3, 4, 5, 6, 7, 9].map((n) => truncateUtf8(body, n))).toEqual([
      'a',
      'a',
      'aé',
      'aé',
      'aé',
      'aé€',
      'aé€',
      'aé€',
    ]);
  });
});
