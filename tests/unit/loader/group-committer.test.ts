import { GroupCommitter, toChangeRow } from '@changefeed/loader';
import { AppError } from '@changefeed/shared/errors';
import { decodeChangeMessage, parsePushEnvelope } from '@changefeed/shared/events';
import { systemClock, type ChangeRow, type RejectedRow } from '@changefeed/shared/ports';
import { cartChange, FakeRowSink, ManualClock, nextTurn, pushBodyFor, until } from '../../support/loader-fakes';

function row(n: number, table = 'carts'): ChangeRow {
  const change = cartChange(n, { table });
  const message = parsePushEnvelope(pushBodyFor(change));
  return toChangeRow(decodeChangeMessage(message.data, message.attributes), message, new Date('2026-11-23T10:00:00Z'));
}

function rejectedRow(n: number): RejectedRow {
  return {
    message_id: `m-${n}`,
    subscription: 's',
    reason: 'invalid',
    payload: '{}',
    received_at: new Date('2026-11-23T10:00:00Z'),
  };
}

/** Follows a promise without awaiting it, so a test can assert it is still pending. */
function track(promise: Promise<void>): { state: 'pending' | 'resolved' | 'rejected'; error?: unknown } {
  const t: { state: 'pending' | 'resolved' | 'rejected'; error?: unknown } = { state: 'pending' };
  promise.then(
    () => (t.state = 'resolved'),
    (e: unknown) => {
      t.state = 'rejected';
      t.error = e;
    },
  );
  return t;
}

function setup(options: { maxRows?: number; maxDelayMs?: number } = {}) {
  const sink = new FakeRowSink();
  const clock = new ManualClock();
  const committer = new GroupCommitter(sink, {
    maxRows: options.maxRows ?? 100,
    maxDelayMs: options.maxDelayMs ?? 10,
    clock,
  });
  return { sink, clock, committer };
}

const sizes = (calls: readonly { rows: readonly unknown[] }[]): number[] => calls.map((c) => c.rows.length);

describe('GroupCommitter', () => {
  it('appends rows submitted within the delay together, and settles each submit only after the append', async () => {
    const { sink, clock, committer } = setup({ maxDelayMs: 10 });
    const release = sink.hold();

    const submits = [1, 2, 3].map((n) => track(committer.submit('carts', row(n))));
    clock.advance(9);
    await nextTurn();
    expect(sink.changeCalls).toHaveLength(0);
    clock.advance(1);
    await nextTurn();
    expect(submits.map((s) => s.state)).toEqual(['pending', 'pending', 'pending']);
    release();
    await until(() => submits.every((s) => s.state !== 'pending'), 'the submits to settle');

    expect(sizes(sink.changeCalls)).toEqual([3]);
    expect(sink.rowsOf('carts').map((r) => r.entity_id)).toEqual(['1', '2', '3']);
    expect(submits.map((s) => s.state)).toEqual(['resolved', 'resolved', 'resolved']);
  });

  it('appends a group as soon as it reaches maxRows, without waiting for the delay', async () => {
    const { sink, committer } = setup({ maxRows: 3, maxDelayMs: 60_000 });

    const done = Promise.all([1, 2, 3, 4, 5, 6].map((n) => committer.submit('carts', row(n))));
    await done;

    expect(sizes(sink.changeCalls)).toEqual([3, 3]);
  });

  it('keeps the rows beyond maxRows for the next group, which waits for its own delay', async () => {
    const { sink, clock, committer } = setup({ maxRows: 3, maxDelayMs: 10 });

    const full = Promise.all([1, 2, 3].map((n) => committer.submit('carts', row(n))));
    const rest = track(committer.submit('carts', row(4)));
    await full;
    await nextTurn();
    expect(rest.state).toBe('pending');
    clock.advance(10);
    await until(() => rest.state !== 'pending', 'the last row');

    expect(sizes(sink.changeCalls)).toEqual([3, 1]);
  });

  it('gathers the rows that arrive during an append into one next group (one append in flight per table)', async () => {
    const { sink, clock, committer } = setup({ maxDelayMs: 10 });
    const release = sink.hold();
    const first = committer.submit('carts', row(1));
    clock.advance(10);
    await until(() => sink.appendsStarted === 1, 'the first append to start');

    const later = [2, 3, 4].map((n) => committer.submit('carts', row(n)));
    clock.advance(10);
    await nextTurn();
    const more = committer.submit('carts', row(5));
    release();
    await Promise.all([first, ...later, more]);

    expect(sizes(sink.changeCalls)).toEqual([1, 4]);
  });

  it('rejects exactly the waiters of a failed append with its error, and appends the next group', async () => {
    const { sink, clock, committer } = setup({ maxDelayMs: 10 });
    const error = new AppError('ROWSINK.UNAVAILABLE', 'warehouse unavailable', { retryable: true });
    sink.failNext(1, error);

    const failed = [1, 2].map((n) => track(committer.submit('carts', row(n))));
    clock.advance(10);
    await until(() => failed.every((s) => s.state !== 'pending'), 'the failed group');
    const next = [3, 4].map((n) => track(committer.submit('carts', row(n))));
    clock.advance(10);
    await until(() => next.every((s) => s.state !== 'pending'), 'the next group');

    expect(failed).toEqual([
      { state: 'rejected', error },
      { state: 'rejected', error },
    ]);
    expect(next.map((s) => s.state)).toEqual(['resolved', 'resolved']);
    expect(sink.rowsOf('carts').map((r) => r.entity_id)).toEqual(['3', '4']);
  });

  it('groups per table and appends different tables independently', async () => {
    const { sink, clock, committer } = setup({ maxDelayMs: 10 });
    const release = sink.hold();

    const all = Promise.all([
      committer.submit('carts', row(1, 'carts')),
      committer.submit('users', row(2, 'users')),
      committer.submit('carts', row(3, 'carts')),
    ]);
    clock.advance(10);
    await nextTurn();
    release();
    await all;

    expect(sink.changeCalls.map((c) => [c.table, c.rows.length])).toEqual([
      ['carts', 2],
      ['users', 1],
    ]);
  });

  it('batches rejected rows into appendRejected the same way', async () => {
    const { sink, clock, committer } = setup({ maxDelayMs: 10 });

    const all = Promise.all([1, 2, 3].map((n) => committer.submitRejected(rejectedRow(n))));
    clock.advance(10);
    await all;

    expect(sizes(sink.rejectedCalls)).toEqual([3]);
    expect(sink.rejected.map((r) => r.message_id)).toEqual(['m-1', 'm-2', 'm-3']);
    expect(sink.changeCalls).toHaveLength(0);
  });

  it('appends everything pending on flush, without waiting for the delay', async () => {
    const { sink, committer } = setup({ maxDelayMs: 60_000 });

    const submits = [committer.submit('carts', row(1)), committer.submitRejected(rejectedRow(2))];
    await committer.flush();

    expect(sizes(sink.changeCalls)).toEqual([1]);
    expect(sizes(sink.rejectedCalls)).toEqual([1]);
    await expect(Promise.all(submits)).resolves.toBeDefined();
    expect(committer.pendingRows()).toBe(0);
  });

  it('on close, finishes the append in flight and the pending groups, then refuses new rows as retryable', async () => {
    const { sink, clock, committer } = setup({ maxDelayMs: 10 });
    const release = sink.hold();
    const inFlight = track(committer.submit('carts', row(1)));
    clock.advance(10);
    await until(() => sink.appendsStarted === 1, 'the first append to start');
    const pending = track(committer.submit('carts', row(2)));

    const closed = track(committer.close());
    await nextTurn();
    expect(closed.state).toBe('pending');
    release();
    await until(() => closed.state === 'resolved', 'close');

    expect(inFlight.state).toBe('resolved');
    expect(pending.state).toBe('resolved');
    expect(sink.rowsOf('carts')).toHaveLength(2);
    await expect(committer.submit('carts', row(3))).rejects.toMatchObject({ code: 'LOADER.CLOSING', retryable: true });
    await expect(committer.submitRejected(rejectedRow(3))).rejects.toMatchObject({ code: 'LOADER.CLOSING' });
  });

  it('does not reject flush when an append failed: the error belongs to the submitters', async () => {
    const { sink, committer } = setup();
    sink.failNext(1, new Error('boom'));
    const submit = track(committer.submit('carts', row(1)));

    await committer.flush();

    expect(submit.state).toBe('rejected');
  });

  it('with maxDelayMs 0, appends what was submitted in the same tick on the next turn', async () => {
    const sink = new FakeRowSink();
    const committer = new GroupCommitter(sink, { maxRows: 100, maxDelayMs: 0, clock: systemClock });

    await Promise.all([committer.submit('carts', row(1)), committer.submit('carts', row(2))]);

    expect(sizes(sink.changeCalls)).toEqual([2]);
  });
});
