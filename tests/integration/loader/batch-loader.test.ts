import { createBatchLoader, type MessageOutcome } from '@changefeed/loader';
import { DuckDbWarehouse } from '@changefeed/shared/adapters/local';
import { AppError } from '@changefeed/shared/errors';
import { changeToMessage, type PushedMessage } from '@changefeed/shared/events';
import { createSilentLogger } from '@changefeed/shared/log';
import { FakeRowSink, SUBSCRIPTION, cartChange } from '../../support/loader-fakes';
import { FakeClock } from '../../support/source-fakes';

/** A message as the bus hands it over, for change `n` of the demo carts. */
function pushed(n: number, overrides: Partial<PushedMessage> = {}): PushedMessage {
  const message = changeToMessage(cartChange(n));
  return {
    messageId: `m${n}`,
    subscription: SUBSCRIPTION,
    data: message.data,
    attributes: message.attributes,
    publishTime: new Date('2026-11-23T09:59:59.000Z'),
    orderingKey: message.orderingKey,
    deliveryAttempt: 1,
    ...overrides,
  };
}

const kinds = (outcomes: readonly MessageOutcome[]): string[] => outcomes.map((o) => `${o.messageId}:${o.kind}`);

describe('createBatchLoader on the DuckDB warehouse', () => {
  let warehouse: DuckDbWarehouse;
  beforeEach(async () => {
    warehouse = await DuckDbWarehouse.open(':memory:');
  });
  afterEach(() => warehouse.close());

  function loader(): ReturnType<typeof createBatchLoader> {
    return createBatchLoader({ sink: warehouse, clock: new FakeClock(), logger: createSilentLogger() });
  }

  it('appends a batch in one call and answers one outcome per message, in order', async () => {
    const outcomes = await loader()([pushed(1), pushed(2), pushed(3)]);
    expect(kinds(outcomes)).toEqual(['m1:written', 'm2:written', 'm3:written']);
    expect(await warehouse.query('SELECT entity_id FROM carts_current ORDER BY entity_id')).toEqual([
      { entity_id: '1' },
      { entity_id: '2' },
      { entity_id: '3' },
    ]);
  });

  it('a row the warehouse refuses for good is isolated and rejected alone; its neighbours land', async () => {
    // delivery_attempt is a 32-bit column: this one can never be stored.
    const batch = [1, 2, 3, 4, 5].map((n) => pushed(n, n === 4 ? { deliveryAttempt: 2 ** 31 } : {}));
    const outcomes = await loader()(batch);
    expect(kinds(outcomes)).toEqual(['m1:written', 'm2:written', 'm3:written', 'm4:rejected', 'm5:written']);
    expect(await warehouse.query('SELECT count(*) AS n FROM carts_changes')).toEqual([{ n: 4 }]);
    const rejected = await warehouse.query('SELECT message_id, subscription, reason FROM _rejected');
    expect(rejected).toEqual([
      { message_id: 'm4', subscription: SUBSCRIPTION, reason: expect.stringMatching(/delivery_attempt/) as unknown },
    ]);
  });

  it('a message that is not a change event is rejected with the reason; the rest land', async () => {
    const garbage = { ...pushed(2), data: Buffer.from('not json'), attributes: {} };
    const outcomes = await loader()([pushed(1), garbage, pushed(3)]);
    expect(kinds(outcomes)).toEqual(['m1:written', 'm2:rejected', 'm3:written']);
    const [row] = await warehouse.query('SELECT payload FROM _rejected');
    expect(row).toEqual({ payload: 'not json' });
  });
});

describe('createBatchLoader when the warehouse fails', () => {
  it('a retryable append failure fails exactly the messages of that append, and nothing is acked for them', async () => {
    const sink = new FakeRowSink();
    sink.failNext(1, new AppError('WAREHOUSE.WRITE_FAILED', 'disk full', { retryable: true }));
    const other = changeToMessage(cartChange(9, { table: 'orders', source: 'orders' }));
    const batch = [pushed(1), { ...pushed(9), data: other.data, attributes: other.attributes }, pushed(2)];
    const outcomes = await createBatchLoader({ sink, clock: new FakeClock(), logger: createSilentLogger() })(batch);

    const failedTable = sink.changeCalls.find((c) => c.error !== undefined)?.table;
    const byKind = new Map(outcomes.map((o) => [o.messageId, o]));
    if (failedTable === 'carts') {
      expect([byKind.get('m1')?.kind, byKind.get('m2')?.kind, byKind.get('m9')?.kind]).toEqual([
        'failed',
        'failed',
        'written',
      ]);
    } else {
      expect([byKind.get('m1')?.kind, byKind.get('m2')?.kind, byKind.get('m9')?.kind]).toEqual([
        'written',
        'written',
        'failed',
      ]);
    }
    expect(outcomes.filter((o) => o.kind === 'failed').every((o) => o.kind === 'failed' && o.retryable)).toBe(true);
  });

  it('when _rejected cannot be written, the rejected messages fail instead of being acked unrecorded', async () => {
    const sink = new FakeRowSink();
    sink.failNext(1, new AppError('WAREHOUSE.WRITE_FAILED', 'unavailable', { retryable: true }), 'rejected');
    const garbage = { ...pushed(2), data: Buffer.from('{'), attributes: {} };
    const outcomes = await createBatchLoader({ sink, clock: new FakeClock(), logger: createSilentLogger() })([
      pushed(1),
      garbage,
    ]);
    expect(kinds(outcomes)).toEqual(['m1:written', 'm2:failed']);
  });
});
