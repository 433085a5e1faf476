import { randomUUID } from 'node:crypto';
import { AppError } from '@changefeed/shared/errors';
import { changeToMessage, parseChangeMessage } from '@changefeed/shared/events';
import type { EventPublisher, OutboundMessage, PublishOutcome } from '@changefeed/shared/ports';
import { cartChange } from '../support/loader-fakes';

/** A message as a subscriber of the bus received it. */
export interface ReadBackMessage {
  readonly messageId: string;
  /** null when the bus does not report it. */
  readonly orderingKey: string | null;
  readonly data: Buffer;
  readonly attributes: Readonly<Record<string, string>>;
}

/** A publisher on a bus of its own (a fresh topic, a fresh file). Called once per test; the suite closes it. */
export type MakeEventPublisher<P extends EventPublisher> = () => P | Promise<P>;

/**
 * Waits until a subscriber of `publisher`'s bus has received `count` messages and returns them in
 * the order they were received (per ordering key, that is the order the bus delivers them in).
 */
export type ReadBack<P extends EventPublisher> = (publisher: P, count: number) => Promise<ReadBackMessage[]>;

function okOutcomes(outcomes: readonly PublishOutcome[]): { id: string; messageId: string }[] {
  return outcomes.map((o) => {
    if (!o.ok) throw new Error(`expected ${o.id} to be published, got ${o.error.message}`);
    return { id: o.id, messageId: o.messageId };
  });
}

/**
 * What every EventPublisher must do, whatever carries the messages (the SQLite local bus, Pub/Sub):
 * the poller commits exactly the entities whose outcome is ok, and the loader reads the message as
 * the poller built it.
 */
export function eventPublisherContract<P extends EventPublisher>(
  name: string,
  makePublisher: MakeEventPublisher<P>,
  readBack: ReadBack<P>,
): void {
  describe(`EventPublisher contract: ${name}`, () => {
    let publisher: P;
    /** Entity ids unique to this test, so buses shared between tests (an emulator) keep tests apart. */
    let run: number;

    beforeEach(async () => {
      publisher = await makePublisher();
      run = Number.parseInt(randomUUID().slice(0, 6), 16);
    });

    afterEach(() => publisher.close());

    /** Change events: `perEntity` versions of each of `entities` carts, oldest first per cart. */
    function changes(entities: number, perEntity: number): OutboundMessage[] {
      const out: OutboundMessage[] = [];
      for (let v = 1; v <= perEntity; v++) {
        for (let e = 0; e < entities; e++) out.push(changeToMessage(cartChange(run + e, { version: v })));
      }
      return out;
    }

    it('resolves one outcome per message, in the order given, each with the id of its message', async () => {
      const messages = changes(3, 2);

      const outcomes = await publisher.publish(messages);

      expect(outcomes.map((o) => o.id)).toEqual(messages.map((m) => m.id));
      expect(outcomes.every((o) => o.ok)).toBe(true);
    });

    it('publishing nothing resolves with no outcomes', async () => {
      await expect(publisher.publish([])).resolves.toEqual([]);
    });

    it('an ok outcome carries the message id that subscribers see, distinct per message', async () => {
      const messages = changes(2, 2);

      const outcomes = okOutcomes(await publisher.publish(messages));
      const received = await readBack(publisher, messages.length);

      const ids = outcomes.map((o) => o.messageId);
      expect(ids.every((id) => id !== '')).toBe(true);
      expect(new Set(ids).size).toBe(ids.length);
      expect(received.map((r) => r.messageId).sort()).toEqual([...ids].sort());
    });

    it('data and attributes arrive unchanged, whatever bytes and characters they hold', async () => {
      const odd: OutboundMessage = {
        id: `odd-${run}`,
        orderingKey: `carts/odd-${run}`,
        data: Buffer.from([0, 255, 1, 128, 0x0a, 0x22]),
        attributes: { 'ce-id': `odd-${run}`, 'ce-subject': 'Grüße, 世界 "quoted" & <tagged>', 'x-empty-ish': ' ' },
      };
      const messages = [...changes(2, 1), odd];

      okOutcomes(await publisher.publish(messages));
      const received = await readBack(publisher, messages.length);

      const byEventId = new Map(received.map((r) => [r.attributes['ce-id'], r]));
      for (const m of messages) {
        const got = byEventId.get(m.attributes['ce-id']);
        expect(got?.attributes).toEqual(m.attributes);
        expect(got?.data.equals(m.data)).toBe(true);
      }
    });

    it('a change event reads back as the same change', async () => {
      const change = cartChange(run, { version: 3, type: 'updated' });

      okOutcomes(await publisher.publish([changeToMessage(change)]));
      const [received] = await readBack(publisher, 1);

      if (received === undefined) throw new Error('nothing received');
      expect(parseChangeMessage(received.data, received.attributes)).toEqual(change);
    });

    it('keeps every ordering key, and the messages of one key arrive in publish order', async () => {
      const messages = changes(4, 3);

      okOutcomes(await publisher.publish(messages));
      const received = await readBack(publisher, messages.length);

      const sentPerKey = new Map<string, string[]>();
      for (const m of messages) sentPerKey.set(m.orderingKey, [...(sentPerKey.get(m.orderingKey) ?? []), m.id]);
      const receivedPerKey = new Map<string, string[]>();
      for (const r of received) {
        const key = r.orderingKey ?? '(none)';
        receivedPerKey.set(key, [...(receivedPerKey.get(key) ?? []), r.attributes['ce-id'] ?? '']);
      }
      expect(receivedPerKey).toEqual(sentPerKey);
    });

    it('after close, publish resolves every message as failed instead of throwing', async () => {
      const messages = changes(2, 1);
      await publisher.close();

      const outcomes = await publisher.publish(messages);

      expect(outcomes.map((o) => o.id)).toEqual(messages.map((m) => m.id));
      for (const o of outcomes) {
        expect(o.ok).toBe(false);
        if (!o.ok) expect(o.error).toBeInstanceOf(AppError);
      }
    });
  });
}
