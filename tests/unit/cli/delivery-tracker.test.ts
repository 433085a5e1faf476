import type { MessageOutcome } from '@changefeed/loader';
import type { PushedMessage } from '@changefeed/shared/events';
import type { PublishOutcome } from '@changefeed/shared/ports';
import { DeliveryTracker } from '@changefeed/pipeline';
import { FakeClock } from '../../support/source-fakes';

/** What `run --once` on gcp waits for: every event the cycles published stored by the loader. */
const published = (...ids: string[]): PublishOutcome[] =>
  ids.map((messageId) => ({ id: `event-${messageId}`, ok: true, messageId }));

function pulled(messageId: string, deliveryAttempt: number | null = 1): PushedMessage {
  return {
    messageId,
    subscription: 'projects/p/subscriptions/s',
    data: Buffer.from('{}'),
    attributes: {},
    publishTime: new Date(0),
    orderingKey: null,
    deliveryAttempt,
  };
}

const written = (messageId: string): MessageOutcome => ({ kind: 'written', messageId, eventId: `event-${messageId}` });

describe('DeliveryTracker', () => {
  it('is settled once every published message was stored, counting the rejected ones and ignoring failed publishes', async () => {
    const tracker = new DeliveryTracker(5);
    tracker.onPublished([...published('1', '2'), { id: 'event-3', ok: false, error: new Error('refused') }]);
    tracker.onLoaded(
      [pulled('1'), pulled('2')],
      [written('1'), { kind: 'rejected', messageId: '2', reason: 'not a CloudEvent' }],
    );

    const counts = await tracker.waitUntilSettled(new FakeClock(), 10_000);

    expect(counts).toEqual({ published: 2, stored: 2, rejected: 1, deadLettered: 0, missing: 0, older: 0 });
  });

  it('matches a message loaded before its publish ack reached the poller', () => {
    const tracker = new DeliveryTracker(5);
    tracker.onLoaded([pulled('7')], [written('7')]);
    tracker.onPublished(published('7'));
    expect(tracker.counts()).toMatchObject({ published: 1, stored: 1, missing: 0, older: 0 });
  });

  it('counts a failure on the last delivery attempt as dead-lettered, an earlier one as still missing', () => {
    const tracker = new DeliveryTracker(5);
    tracker.onPublished(published('a', 'b'));
    const failed = (messageId: string): MessageOutcome => ({
      kind: 'failed',
      messageId,
      error: new Error('warehouse down'),
      retryable: true,
    });
    tracker.onLoaded([pulled('a', 5), pulled('b', 4)], [failed('a'), failed('b')]);
    expect(tracker.counts()).toMatchObject({ stored: 0, deadLettered: 1, missing: 1 });
  });

  it('gives up after the timeout and says how many are missing; what it did not publish counts as older', async () => {
    const tracker = new DeliveryTracker(5);
    tracker.onPublished(published('1', '2', '3'));
    tracker.onLoaded([pulled('1'), pulled('old')], [written('1'), written('old')]);
    const clock = new FakeClock();
    const start = clock.now().getTime();

    const counts = await tracker.waitUntilSettled(clock, 2_000);

    expect(counts).toMatchObject({ published: 3, stored: 1, missing: 2, older: 1 });
    expect(clock.now().getTime() - start).toBeGreaterThanOrEqual(2_000);
  });

  it('stops waiting when the signal aborts (Ctrl-C)', async () => {
    const tracker = new DeliveryTracker(5);
    tracker.onPublished(published('1'));
    const stop = new AbortController();
    stop.abort(new Error('SIGINT'));
    await expect(tracker.waitUntilSettled(new FakeClock(), 60_000, stop.signal)).rejects.toThrow();
  });
});
