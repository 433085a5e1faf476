import { createBatchLoader, tableAllowlist } from '@changefeed/loader';
import { changeToMessage, type ChangeEvent, type PushedMessage } from '@changefeed/shared/events';
import { createSilentLogger } from '@changefeed/shared/log';
import { FakeClock } from '../../support/source-fakes';
import { cartChange, FakeRowSink, SUBSCRIPTION } from '../../support/loader-fakes';

const SOURCES = [
  { name: 'carts', mode: 'stream', table: 'carts' },
  { name: 'orders', mode: 'stream', table: 'order_events' },
  { name: 'users', mode: 'batch', table: 'users' },
] as const;

describe('tableAllowlist', () => {
  const allow = tableAllowlist(SOURCES);

  it("takes a stream source's events for its own table", () => {
    expect(allow.refusal({ source: 'carts', table: 'carts' })).toBeUndefined();
    expect(allow.refusal({ source: 'orders', table: 'order_events' })).toBeUndefined();
  });

  it('refuses a table no stream source writes, a batch table included, naming it', () => {
    expect(allow.refusal({ source: 'carts', table: 'evil' })).toBe(
      'table "evil" is not the table of any configured stream source',
    );
    expect(allow.refusal({ source: 'users', table: 'users' })).toMatch(/"users" is not the table/);
  });

  it("refuses another source's events for a configured table", () => {
    expect(allow.refusal({ source: 'orders', table: 'carts' })).toBe(
      'table "carts" is written by source "carts", not by "orders"',
    );
  });
});

function delivered(messageId: string, change: ChangeEvent): PushedMessage {
  const message = changeToMessage(change);
  return {
    messageId,
    subscription: SUBSCRIPTION,
    data: message.data,
    attributes: message.attributes,
    publishTime: new Date('2026-11-23T09:59:59.000Z'),
    orderingKey: message.orderingKey,
    deliveryAttempt: 1,
  };
}

describe('the batch loader with a table allowlist', () => {
  it('rejects an event for an unconfigured table into _rejected and writes its configured neighbour', async () => {
    const sink = new FakeRowSink();
    const load = createBatchLoader({
      sink,
      clock: new FakeClock('2026-11-23T10:00:00.000Z'),
      logger: createSilentLogger(),
      tables: tableAllowlist(SOURCES),
    });
    const outcomes = await load([
      delivered('m-1', cartChange(1, { table: 'evil', version: 9_999_999_999 })),
      delivered('m-2', cartChange(2)),
    ]);
    expect(outcomes.map((o) => o.kind)).toEqual(['rejected', 'written']);
    expect([...sink.changes.keys()]).toEqual(['carts']);
    expect(sink.rejected).toMatchObject([
      { message_id: 'm-1', reason: 'table "evil" is not the table of any configured stream source' },
    ]);
  });
});
