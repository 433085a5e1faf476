import { AppError } from '@changefeed/shared/errors';
import { changeToMessage } from '@changefeed/shared/events';
import type { DeadLetter } from '@changefeed/shared/ports';
import { replayLetters, type LetterOutcome } from '../../../services/cli/src/dlq/replay-letters';
import { DEAD_LETTER_CONTRACT_ATTEMPTS, deadLetterQueueContract } from '../../contract/dead-letter-queue.contract';
import { MemoryDeadLetterQueue, RecordingPublisher } from '../../support/dead-letter-fakes';
import { cartChange, ManualClock, until } from '../../support/loader-fakes';
import { FakeClock } from '../../support/source-fakes';

// The fake the replay tests run on keeps the same contract as the local bus and Pub/Sub.
deadLetterQueueContract('MemoryDeadLetterQueue', () => {
  const queue = new MemoryDeadLetterQueue();
  return Promise.resolve({
    queue,
    deadLetter(messages) {
      for (const m of messages) queue.add(m, DEAD_LETTER_CONTRACT_ATTEMPTS, new Date());
      return Promise.resolve();
    },
    close: () => queue.close(),
  });
});

describe('replayLetters', () => {
  let queue: MemoryDeadLetterQueue;
  let publisher: RecordingPublisher;
  let clock: FakeClock;

  beforeEach(() => {
    queue = new MemoryDeadLetterQueue();
    publisher = new RecordingPublisher();
    clock = new FakeClock();
  });

  /** Dead letters of these (cart, version) changes, in this order. */
  async function deadLetters(changes: readonly (readonly [number, number])[]): Promise<DeadLetter[]> {
    for (const [cart, version] of changes) {
      queue.add(changeToMessage(cartChange(cart, { version })), 5, clock.now());
    }
    return (await queue.list()).letters;
  }

  const carts = (n: number): (readonly [number, number])[] => Array.from({ length: n }, (_, i) => [i + 1, 1] as const);

  function eventIdsOf(messages: readonly { attributes: Readonly<Record<string, string>> }[]): string[] {
    return messages.map((m) => m.attributes['ce-id'] ?? '');
  }

  it('republishes every letter once, in the order listed, in steps of the batch size, and removes each', async () => {
    const letters = await deadLetters(carts(5));
    const settled: number[] = [];

    const result = await replayLetters(
      { queue, publisher, clock, signal: new AbortController().signal },
      { letters, batchSize: 2, onSettled: (o) => settled.push(o.length) },
    );

    expect(result).toEqual({ replayed: 5, notRemoved: 0, failed: 0, notAttempted: 0, interrupted: false });
    expect(publisher.calls.map((c) => c.length)).toEqual([2, 2, 1]);
    expect(settled).toEqual([2, 2, 1]);
    expect(eventIdsOf(publisher.published)).toEqual(letters.map((l) => l.attributes['ce-id']));
    expect(publisher.published.map((m) => m.orderingKey)).toEqual(letters.map((l) => l.orderingKey));
    expect((await queue.list()).letters).toEqual([]);
    expect(clock.sleeps).toEqual([]);
  });

  it('with a rate, each step carries about a second of messages, and steps are spaced to keep the average', async () => {
    const letters = await deadLetters(carts(5));

    await replayLetters(
      { queue, publisher, clock, signal: new AbortController().signal },
      { letters, ratePerSecond: 2 },
    );

    expect(publisher.calls.map((c) => c.length)).toEqual([2, 2, 1]);
    expect(clock.sleeps).toEqual([1000, 1000]);
  });

  it('a rate below one message a second sends one message per step, that far apart', async () => {
    const letters = await deadLetters(carts(3));

    await replayLetters(
      { queue, publisher, clock, signal: new AbortController().signal },
      { letters, ratePerSecond: 0.5 },
    );

    expect(publisher.calls.map((c) => c.length)).toEqual([1, 1, 1]);
    expect(clock.sleeps).toEqual([2000, 2000]);
  });

  it('Ctrl-C during a step: the step settles, no further step starts, and the rest stay dead letters', async () => {
    const letters = await deadLetters(carts(5));
    const ctrlC = new AbortController();

    const result = await replayLetters(
      { queue, publisher, clock, signal: ctrlC.signal },
      { letters, batchSize: 2, onSettled: () => ctrlC.abort() },
    );

    expect(result).toEqual({ replayed: 2, notRemoved: 0, failed: 0, notAttempted: 3, interrupted: true });
    expect((await queue.list()).letters).toEqual(letters.slice(2));
  });

  it('Ctrl-C while waiting for the rate: nothing more is sent', async () => {
    const letters = await deadLetters(carts(3));
    const manual = new ManualClock();
    const ctrlC = new AbortController();

    const replay = replayLetters(
      { queue, publisher, clock: manual, signal: ctrlC.signal },
      { letters, ratePerSecond: 1 },
    );
    await until(() => manual.pendingSleeps() === 1, 'the wait before the second step');
    ctrlC.abort();
    const result = await replay;

    expect(result).toMatchObject({ replayed: 1, notAttempted: 2, interrupted: true });
    expect(publisher.calls).toHaveLength(1);
  });

  it('a letter that fails holds back the later letters of its ordering key, so an entity never goes back out of order; other keys go on', async () => {
    const letters = await deadLetters([
      [1, 1],
      [2, 1],
      [1, 2],
    ]);
    publisher.refuse(letters[0]?.attributes['ce-id'] ?? '');
    const outcomes: LetterOutcome[] = [];

    const result = await replayLetters(
      { queue, publisher, clock, signal: new AbortController().signal },
      { letters, batchSize: 1, onSettled: (o) => outcomes.push(...o) },
    );

    expect(result).toMatchObject({ replayed: 1, failed: 2, notAttempted: 0 });
    expect(outcomes.map((o) => (o.replayed ? 'replayed' : (o.error as AppError).code))).toEqual([
      'PUBLISH.REJECTED',
      'replayed',
      'DLQ.ORDERING_KEY_HELD',
    ]);
    expect(eventIdsOf(publisher.calls.flat())).toEqual([
      letters[0]?.attributes['ce-id'],
      letters[1]?.attributes['ce-id'],
    ]);
    expect((await queue.list()).letters).toEqual([letters[0], letters[2]]);
  });

  it('stops after a step whose failure every message would meet (the topic is gone); the rest are not tried', async () => {
    const letters = await deadLetters(carts(5));
    publisher.refuseEverything(new AppError('PUBLISH.NOT_FOUND', 'topic not found'));

    const result = await replayLetters(
      { queue, publisher, clock, signal: new AbortController().signal },
      { letters, batchSize: 2 },
    );

    expect(result).toMatchObject({ replayed: 0, failed: 2, notAttempted: 3, interrupted: false });
    expect(result.stoppedBy).toMatchObject({ code: 'PUBLISH.NOT_FOUND' });
    expect(publisher.calls).toHaveLength(1);
    expect((await queue.list()).letters).toHaveLength(5);
  });

  it('when the queue itself fails, the step counts as failed, its letters stay, and the run stops', async () => {
    const letters = await deadLetters(carts(5));
    queue.republishFails = new Error('dead-letter subscription unreachable');

    const result = await replayLetters(
      { queue, publisher, clock, signal: new AbortController().signal },
      { letters, batchSize: 2 },
    );

    expect(result).toMatchObject({ replayed: 0, failed: 2, notAttempted: 3 });
    expect(result.stoppedBy?.message).toBe('dead-letter subscription unreachable');
    queue.republishFails = undefined;
    expect((await queue.list()).letters).toHaveLength(5);
  });

  it('a letter from a stale listing (someone replayed it meanwhile) is sent again and counted as not removed', async () => {
    const letters = await deadLetters(carts(2));
    await queue.acknowledge([letters[0]?.handle ?? '']);

    const result = await replayLetters({ queue, publisher, clock, signal: new AbortController().signal }, { letters });

    expect(result).toMatchObject({ replayed: 2, notRemoved: 1, failed: 0 });
  });
});
