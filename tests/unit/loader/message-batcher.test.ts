import {
  createBatchLoader,
  MessageBatcher,
  type BatchLoader,
  type LoaderMessage,
  type MessageOutcome,
} from '@changefeed/loader';
import { AppError } from '@changefeed/shared/errors';
import { parsePushEnvelope } from '@changefeed/shared/events';
import { createSilentLogger } from '@changefeed/shared/log';
import { systemClock } from '@changefeed/shared/ports';
import { cartChange, FakeRowSink, ManualClock, nextTurn, pushBodyFor, until } from '../../support/loader-fakes';

function message(n: number, table = 'carts'): LoaderMessage {
  return parsePushEnvelope(pushBodyFor(cartChange(n, { table }), { messageId: `m-${n}` }));
}

/** A batch loader that writes everything, records each batch, and can hold its loads. */
class FakeBatchLoader {
  readonly batches: string[][] = [];
  started = 0;
  private gate: Promise<void> | undefined;
  private failures: Error[] = [];

  readonly load: BatchLoader = async (messages) => {
    this.started++;
    if (this.gate !== undefined) await this.gate;
    this.batches.push(messages.map((m) => m.messageId ?? ''));
    const error = this.failures.shift();
    if (error !== undefined) throw error;
    return messages.map((m) => ({ kind: 'written', messageId: m.messageId ?? '', eventId: `e-${m.messageId}` }));
  };

  hold(): () => void {
    let release!: () => void;
    this.gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    return () => {
      this.gate = undefined;
      release();
    };
  }

  /** The next load breaks the BatchLoader contract by rejecting with `error`. */
  throwNext(error: Error): void {
    this.failures.push(error);
  }
}

/** Follows an outcome without awaiting it, so a test can assert it is still pending. */
function track(promise: Promise<MessageOutcome>): { outcome?: MessageOutcome } {
  const t: { outcome?: MessageOutcome } = {};
  void promise.then((o) => (t.outcome = o));
  return t;
}

function setup(options: { maxMessages?: number; maxDelayMs?: number } = {}) {
  const loader = new FakeBatchLoader();
  const clock = new ManualClock();
  const batcher = new MessageBatcher(loader.load, {
    maxMessages: options.maxMessages ?? 100,
    maxDelayMs: options.maxDelayMs ?? 10,
    clock,
  });
  return { loader, clock, batcher };
}

describe('MessageBatcher', () => {
  it('loads the messages submitted within the delay in one batch, and answers each with its own outcome after the load', async () => {
    const { loader, clock, batcher } = setup({ maxDelayMs: 10 });
    const release = loader.hold();

    const submits = [1, 2, 3].map((n) => track(batcher.submit(message(n))));
    clock.advance(9);
    await nextTurn();
    expect(loader.started).toBe(0);
    clock.advance(1);
    await until(() => loader.started === 1, 'the load to start');
    expect(submits.every((s) => s.outcome === undefined)).toBe(true);
    release();
    await until(() => submits.every((s) => s.outcome !== undefined), 'the submits to settle');

    expect(loader.batches).toEqual([['m-1', 'm-2', 'm-3']]);
    expect(submits.map((s) => s.outcome)).toEqual(
      [1, 2, 3].map((n) => ({ kind: 'written', messageId: `m-${n}`, eventId: `e-m-${n}` })),
    );
  });

  it('loads a batch as soon as it reaches maxMessages, without waiting for the delay', async () => {
    const { loader, batcher } = setup({ maxMessages: 3, maxDelayMs: 60_000 });

    await Promise.all([1, 2, 3, 4, 5, 6].map((n) => batcher.submit(message(n))));

    expect(loader.batches.map((b) => b.length)).toEqual([3, 3]);
  });

  it('keeps the messages beyond maxMessages for the next batch, which waits for its own delay', async () => {
    const { loader, clock, batcher } = setup({ maxMessages: 3, maxDelayMs: 10 });

    const full = Promise.all([1, 2, 3].map((n) => batcher.submit(message(n))));
    const rest = track(batcher.submit(message(4)));
    await full;
    await nextTurn();
    expect(rest.outcome).toBeUndefined();
    clock.advance(10);
    await until(() => rest.outcome !== undefined, 'the last message');

    expect(loader.batches.map((b) => b.length)).toEqual([3, 1]);
  });

  it('gathers the messages that arrive during a load into one next batch (one load in flight)', async () => {
    const { loader, clock, batcher } = setup({ maxDelayMs: 10 });
    const release = loader.hold();
    const first = batcher.submit(message(1));
    clock.advance(10);
    await until(() => loader.started === 1, 'the first load to start');

    const later = [2, 3, 4].map((n) => batcher.submit(message(n, n === 3 ? 'users' : 'carts')));
    clock.advance(10);
    await nextTurn();
    const more = batcher.submit(message(5));
    expect(batcher.pending()).toBe(5);
    release();
    await Promise.all([first, ...later, more]);

    expect(loader.batches).toEqual([['m-1'], ['m-2', 'm-3', 'm-4', 'm-5']]);
    expect(batcher.pending()).toBe(0);
  });

  it('loads everything pending on flush, without waiting for the delay', async () => {
    const { loader, batcher } = setup({ maxDelayMs: 60_000 });

    const submits = [batcher.submit(message(1)), batcher.submit(message(2))];
    await batcher.flush();

    expect(loader.batches).toEqual([['m-1', 'm-2']]);
    expect((await Promise.all(submits)).map((o) => o.kind)).toEqual(['written', 'written']);
    expect(batcher.pending()).toBe(0);
  });

  it('on close, finishes the load in flight and the pending batches, then fails new messages as retryable', async () => {
    const { loader, clock, batcher } = setup({ maxDelayMs: 10 });
    const release = loader.hold();
    const inFlight = track(batcher.submit(message(1)));
    clock.advance(10);
    await until(() => loader.started === 1, 'the first load to start');
    const pending = track(batcher.submit(message(2)));

    let closed = false;
    void batcher.close().then(() => (closed = true));
    await nextTurn();
    expect(closed).toBe(false);
    release();
    await until(() => closed, 'close');

    expect(inFlight.outcome?.kind).toBe('written');
    expect(pending.outcome?.kind).toBe('written');
    expect(await batcher.submit(message(3))).toMatchObject({
      kind: 'failed',
      messageId: 'm-3',
      retryable: true,
      error: { code: 'LOADER.CLOSING' },
    });
    expect(loader.batches).toEqual([['m-1'], ['m-2']]);
  });

  it('fails the messages of a load that rejects instead of leaving their submitters waiting, and loads the next batch', async () => {
    const { loader, clock, batcher } = setup({ maxDelayMs: 10 });
    const error = new AppError('ROWSINK.SCHEMA', 'bad schema', { retryable: false });
    loader.throwNext(error);

    const broken = [1, 2].map((n) => track(batcher.submit(message(n))));
    clock.advance(10);
    await until(() => broken.every((s) => s.outcome !== undefined), 'the failed batch');
    const next = track(batcher.submit(message(3)));
    clock.advance(10);
    await until(() => next.outcome !== undefined, 'the next batch');

    expect(broken.map((s) => s.outcome)).toEqual(
      [1, 2].map((n) => ({ kind: 'failed', messageId: `m-${n}`, error, retryable: false })),
    );
    expect(next.outcome?.kind).toBe('written');
  });

  it('with maxDelayMs 0, loads what was submitted in the same tick on the next turn', async () => {
    const loader = new FakeBatchLoader();
    const batcher = new MessageBatcher(loader.load, { maxMessages: 100, maxDelayMs: 0, clock: systemClock });

    await Promise.all([batcher.submit(message(1)), batcher.submit(message(2))]);

    expect(loader.batches).toEqual([['m-1', 'm-2']]);
  });

  it('over the batch loader: messages of one batch share an append per table, and a failed append fails only its own', async () => {
    const sink = new FakeRowSink();
    const clock = new ManualClock();
    const load = createBatchLoader({ sink, clock, logger: createSilentLogger() });
    const batcher = new MessageBatcher(load, { maxMessages: 100, maxDelayMs: 10, clock });
    sink.failNext(1, new AppError('ROWSINK.UNAVAILABLE', 'down', { retryable: true }));
    const release = sink.hold();

    const outcomes = Promise.all([
      batcher.submit(message(1, 'carts')),
      batcher.submit(message(2, 'users')),
      batcher.submit(message(3, 'carts')),
      batcher.submit({
        unreadable: 'body is not JSON',
        messageId: null,
        subscription: null,
        payload: Buffer.from('x'),
      }),
    ]);
    clock.advance(10);
    await until(() => sink.appendsStarted === 2, 'both tables to be appended');
    release();
    const settled = await outcomes;

    const failedTable = sink.changeCalls.find((c) => c.error !== undefined)?.table;
    const expected = failedTable === 'carts' ? ['failed', 'written', 'failed'] : ['written', 'failed', 'written'];
    expect(settled.map((o) => o.kind)).toEqual([...expected, 'rejected']);
    expect(sink.changeCalls.map((c) => [c.table, c.rows.length]).sort()).toEqual([
      ['carts', 2],
      ['users', 1],
    ]);
    expect(sink.rejected).toMatchObject([{ message_id: null, reason: 'body is not JSON', payload: 'x' }]);
  });
});
