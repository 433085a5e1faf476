import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createBatchLoader, type MessageOutcome } from '@changefeed/loader';
import { DuckDbWarehouse, FilePayloadStore } from '@changefeed/shared/adapters/local';
import { buildChangeMessage, type PushedMessage } from '@changefeed/shared/events';
import { createSilentLogger } from '@changefeed/shared/log';
import { claimCheckPublisher, PayloadAttribute, payloadRefOf } from '@changefeed/shared/payloads';
import type { OutboundMessage } from '@changefeed/shared/ports';
import { SUBSCRIPTION, cartChange } from '../../support/loader-fakes';
import { FakeEventPublisher } from '../../support/poller-fakes';
import { FakeClock } from '../../support/source-fakes';

const INLINE_MAX = 64 * 1024;

/** Change `n` of the carts, its record padded to about `bytes`. */
function change(n: number, bytes: number): OutboundMessage {
  return buildChangeMessage(cartChange(n, { record: { id: n, padding: 'p'.repeat(bytes) } }));
}

function delivered(message: OutboundMessage, overrides: Partial<PushedMessage> = {}): PushedMessage {
  return {
    messageId: `m-${message.attributes['ce-subject'] ?? ''}`,
    subscription: SUBSCRIPTION,
    data: message.data,
    attributes: message.attributes,
    publishTime: new Date('2026-12-07T10:00:00.000Z'),
    orderingKey: message.orderingKey,
    deliveryAttempt: 1,
    ...overrides,
  };
}

const kinds = (outcomes: readonly MessageOutcome[]): string[] => outcomes.map((o) => `${o.messageId}:${o.kind}`);

describe('the claim check, from the publisher to the warehouse, on the local store', () => {
  let dir: string;
  let store: FilePayloadStore;
  let bus: FakeEventPublisher;
  let warehouse: DuckDbWarehouse;
  beforeEach(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'changefeed-claim-'));
    store = new FilePayloadStore(path.join(dir, 'payloads'));
    bus = new FakeEventPublisher();
    warehouse = await DuckDbWarehouse.open(':memory:');
  });
  afterEach(async () => {
    await warehouse.close();
    await rm(dir, { recursive: true, force: true });
  });

  const publisher = (): ReturnType<typeof claimCheckPublisher> =>
    claimCheckPublisher(bus, { inlineMaxBytes: INLINE_MAX, store, storeSetting: '--data-dir' });
  const loader = (): ReturnType<typeof createBatchLoader> =>
    createBatchLoader({ sink: warehouse, clock: new FakeClock(), logger: createSilentLogger(), payloads: store });

  it('a record over the inline limit travels as a reference and lands whole; small ones travel as before', async () => {
    const small = change(1, 100);
    const large = change(2, 3 * INLINE_MAX);
    const outcomes = await publisher().publish([small, large]);
    expect(outcomes.map((o) => o.ok)).toEqual([true, true]);
    const [sentSmall, sentLarge] = bus.published;
    expect(sentSmall).toEqual(small);
    expect(sentLarge?.data.length).toBe(0);
    expect(sentLarge?.id).toBe(large.id);
    expect(payloadRefOf(sentLarge?.attributes ?? {})?.bytes).toBe(large.data.length);

    const loaded = await loader()(bus.published.map((m) => delivered(m)));
    expect(kinds(loaded)).toEqual(['m-1:written', 'm-2:written']);
    const rows = await warehouse.query('SELECT entity_id, data FROM carts_current ORDER BY entity_id');
    expect(rows.map((r) => r['data'])).toEqual([JSON.parse(small.data.toString()), JSON.parse(large.data.toString())]);
  });

  it('without a store a large record fails its own publish, naming the setting; the rest go', async () => {
    const alone = claimCheckPublisher(bus, {
      inlineMaxBytes: INLINE_MAX,
      store: undefined,
      storeSetting: 'gcp.storage.payloadBucket',
    });
    const outcomes = await alone.publish([change(1, 10), change(2, 2 * INLINE_MAX), change(3, 10)]);
    expect(outcomes.map((o) => o.ok)).toEqual([true, false, true]);
    const failed = outcomes[1];
    expect(failed !== undefined && !failed.ok ? failed.error.message : '').toMatch(
      /carts\/2.*over payloads.inlineMaxBytes.*set gcp.storage.payloadBucket/,
    );
    expect(bus.summary()).toEqual(['updated 1 v2', 'updated 3 v2']);
  });

  it('a payload that changed is rejected with the reason and where it is; a missing one is retried; neighbours land', async () => {
    await publisher().publish([change(1, 10), change(2, 2 * INLINE_MAX), change(3, 3 * INLINE_MAX)]);
    const [, second, third] = bus.published;
    const secondRef = payloadRefOf(second?.attributes ?? {});
    const thirdRef = payloadRefOf(third?.attributes ?? {});
    if (secondRef === undefined || thirdRef === undefined) throw new Error('expected two references');
    await writeFile(path.join(dir, secondRef.location), '{"tampered":true}');
    await rm(path.join(dir, thirdRef.location));

    const outcomes = await loader()(bus.published.map((m) => delivered(m)));
    expect(kinds(outcomes)).toEqual(['m-1:written', 'm-2:rejected', 'm-3:failed']);
    const failed = outcomes[2];
    expect(failed?.kind === 'failed' && failed.retryable).toBe(true);
    const rejected = await warehouse.query('SELECT message_id, reason FROM _rejected');
    expect(rejected).toEqual([
      {
        message_id: 'm-2',
        reason: expect.stringMatching(
          new RegExp(`is \\d+ bytes; the event says \\d+ \\[record at ${secondRef.location}\\]$`),
        ) as unknown,
      },
    ]);
    expect(await warehouse.query('SELECT entity_id FROM carts_changes')).toEqual([{ entity_id: '1' }]);
  });

  it('a forged or malformed reference is rejected unread', async () => {
    const base = change(4, 10);
    const forged = (attributes: Record<string, string>): PushedMessage =>
      delivered({ ...base, data: Buffer.alloc(0), attributes: { ...base.attributes, ...attributes } });
    const sha = 'a'.repeat(64);
    const outcomes = await loader()([
      forged({
        [PayloadAttribute.location]: '/etc/passwd',
        [PayloadAttribute.sha256]: sha,
        [PayloadAttribute.bytes]: '10',
      }),
      forged({
        [PayloadAttribute.location]: `payloads/aa/${sha}`,
        [PayloadAttribute.sha256]: 'not-hex',
        [PayloadAttribute.bytes]: '10',
      }),
      forged({ [PayloadAttribute.location]: `payloads/aa/${sha}` }),
    ]);
    expect(outcomes.map((o) => o.kind)).toEqual(['rejected', 'rejected', 'rejected']);
    const reasons = (await warehouse.query('SELECT reason FROM _rejected ORDER BY reason')).map((r) => r['reason']);
    expect(reasons).toEqual([
      expect.stringMatching(/invalid payload reference: ce-cfpayloadsha256: expected 64 lowercase hex digits/),
      expect.stringMatching(/invalid payload reference: ce-cfpayloadsha256.*ce-cfpayloadbytes/),
      expect.stringMatching(/payload location "\/etc\/passwd" is not where/),
    ]);
  });

  it('a loader without a store fails a referenced message (retried, then dead-lettered), naming the setting', async () => {
    await publisher().publish([change(5, 2 * INLINE_MAX)]);
    const bare = createBatchLoader({
      sink: warehouse,
      clock: new FakeClock(),
      logger: createSilentLogger(),
      payloadStoreSetting: 'gcp.storage.payloadBucket',
    });
    const [outcome] = await bare(bus.published.map((m) => delivered(m)));
    expect(outcome?.kind).toBe('failed');
    expect(outcome?.kind === 'failed' ? String(outcome.error) : '').toMatch(
      /no payload store: set gcp.storage.payloadBucket/,
    );
  });
});
