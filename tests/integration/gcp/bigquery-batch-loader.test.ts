import { randomUUID } from 'node:crypto';
import { createBatchLoader, type MessageOutcome } from '@changefeed/loader';
import type { BigQueryWarehouse } from '@changefeed/shared/adapters/gcp';
import { changeToMessage, type PushedMessage } from '@changefeed/shared/events';
import { createSilentLogger } from '@changefeed/shared/log';
import { openEmulatorWarehouse } from '../../support/bigquery-emulator-clients';
import { SUBSCRIPTION, cartChange } from '../../support/loader-fakes';
import { FakeClock } from '../../support/source-fakes';

/**
 * The loader's core over the BigQuery warehouse on the emulator: a row BigQuery itself refuses
 * (not one our value checks catch) is isolated and rejected alone. The emulator never answers an
 * AppendRows request with `rowErrors` (it fails the whole request instead), so the refusal here
 * comes from the other path a row can take, the load job of rows too large for one request; the
 * mapping of `rowErrors` is unit-tested (tests/unit/gcp/bigquery-append-response.test.ts).
 */
const dataset = `bl_${randomUUID().replaceAll('-', '').slice(0, 10)}`;

/** A message as the bus hands it over: a change of cart `n` of `table` to `record`. */
function pushed(table: string, n: number, record: Record<string, unknown>): PushedMessage {
  const message = changeToMessage(cartChange(n, { record, table }));
  return {
    messageId: `m${n}`,
    subscription: SUBSCRIPTION,
    data: message.data,
    attributes: message.attributes,
    publishTime: new Date('2026-11-23T09:59:59.000Z'),
    orderingKey: message.orderingKey,
    deliveryAttempt: 1,
  };
}

describe('createBatchLoader on the BigQuery warehouse (emulator)', () => {
  let warehouse: BigQueryWarehouse;
  let table: string;
  beforeEach(() => {
    table = `carts_${randomUUID().replaceAll('-', '').slice(0, 8)}`;
    // Requests of 16 KiB: a 20 kB record takes the load job path without building megabytes.
    warehouse = openEmulatorWarehouse(dataset, { maxAppendRequestBytes: 16 * 1024 });
  });
  afterEach(() => warehouse.close());

  it('a row BigQuery refuses for good is rejected alone with BigQuery’s reason; its neighbours, large and small, land', async () => {
    const blob = 'x'.repeat(20_000);
    const batch = [
      pushed(table, 1, { id: 1 }),
      pushed(table, 2, { id: 2, blob }),
      // A lone surrogate: JSON.parse takes its escape, BigQuery's JSON reader does not.
      pushed(table, 3, { id: 3, blob, bad: '\ud800' }),
      pushed(table, 4, { id: 4, blob }),
      pushed(table, 5, { id: 5 }),
    ];
    const loader = createBatchLoader({
      sink: warehouse,
      clock: new FakeClock(),
      logger: createSilentLogger(),
      // `_rejected` rows go through the lowered request size too.
      rejectedPayloadMaxBytes: 1024,
    });

    const outcomes = await loader(batch);

    expect(outcomes.map((o: MessageOutcome) => `${o.messageId}:${o.kind}`)).toEqual([
      'm1:written',
      'm2:written',
      'm3:rejected',
      'm4:written',
      'm5:written',
    ]);
    // Halving re-sends the neighbours, and Storage Write rows of a failed attempt stay appended
    // (at least once): _changes may hold them more than once, _current counts each once.
    const landed = ['1', '2', '4', '5'].map((entity_id) => ({ entity_id }));
    expect(await warehouse.query(`SELECT DISTINCT entity_id FROM \`${table}_changes\` ORDER BY entity_id`)).toEqual(
      landed,
    );
    await warehouse.compactCurrent(table);
    expect(await warehouse.query(`SELECT entity_id FROM \`${table}_current\` ORDER BY entity_id`)).toEqual(landed);
    expect(await warehouse.query(`SELECT message_id, reason FROM \`_rejected\` WHERE message_id = 'm3'`)).toEqual([
      {
        message_id: 'm3',
        reason: expect.stringMatching(
          new RegExp(`^${table}_changes row \\d \\(event .+\\): BigQuery's load job refused it: .*surrogate`),
        ) as unknown,
      },
    ]);
  });
});
