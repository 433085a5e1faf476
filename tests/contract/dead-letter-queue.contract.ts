import { randomUUID } from 'node:crypto';
import { changeToMessage } from '@changefeed/shared/events';
import type { DeadLetter, DeadLetterQueue, OutboundMessage, RepublishOutcome } from '@changefeed/shared/ports';
import { RecordingPublisher } from '../support/dead-letter-fakes';
import { cartChange } from '../support/loader-fakes';

/** A dead-letter queue of its own (a fresh subscription, a fresh file), and a way to fill it. */
export interface DeadLetterFixture {
  readonly queue: DeadLetterQueue;
  /**
   * Makes these messages dead letters, one after the other in this order, each after
   * DEAD_LETTER_CONTRACT_ATTEMPTS failed deliveries; resolves once the queue lists them.
   */
  deadLetter(messages: readonly OutboundMessage[]): Promise<void>;
  close(): Promise<void>;
}

/** Failed deliveries before a message becomes a dead letter, in every fixture. */
export const DEAD_LETTER_CONTRACT_ATTEMPTS = 5;

function eventIds(letters: readonly DeadLetter[]): (string | undefined)[] {
  return letters.map((l) => l.attributes['ce-id']);
}

function okOutcome(outcome: RepublishOutcome | undefined): Extract<RepublishOutcome, { ok: true }> {
  if (outcome === undefined || !outcome.ok) throw new Error(`expected an ok outcome, got ${JSON.stringify(outcome)}`);
  return outcome;
}

/**
 * What every DeadLetterQueue must do, whatever holds the dead letters (the local bus file, a Pub/Sub
 * dead-letter subscription): `changefeed dlq` lists and replays through this port only, so both
 * backends behave the same.
 */
export function deadLetterQueueContract(name: string, makeFixture: () => Promise<DeadLetterFixture>): void {
  describe(`DeadLetterQueue contract: ${name}`, () => {
    let fixture: DeadLetterFixture;
    let queue: DeadLetterQueue;
    /** Entity ids unique to this test. */
    let run: number;

    beforeEach(async () => {
      fixture = await makeFixture();
      queue = fixture.queue;
      run = Number.parseInt(randomUUID().slice(0, 6), 16);
    });

    afterEach(() => fixture.close());

    /** One change each of `count` entities of this test. */
    function messages(count: number): OutboundMessage[] {
      return Array.from({ length: count }, (_, i) => changeToMessage(cartChange(run + i)));
    }

    it('lists every dead letter oldest first, with its data, attributes and ordering key as published, and leaves them in place', async () => {
      const keyless: OutboundMessage = { ...changeToMessage(cartChange(run + 7)), orderingKey: '' };
      const sent = [...messages(2), keyless];
      await fixture.deadLetter(sent);

      const listing = await queue.list();
      const again = await queue.list();

      expect(listing).toMatchObject({ skipped: 0, complete: true });
      expect(eventIds(listing.letters)).toEqual(sent.map((m) => m.id));
      listing.letters.forEach((letter, i) => {
        const m = sent[i];
        expect(letter.attributes).toEqual(m?.attributes);
        expect(letter.data.equals(m?.data ?? Buffer.alloc(0))).toBe(true);
        expect(letter.orderingKey).toBe(m?.orderingKey === '' ? null : m?.orderingKey);
        expect(letter.deliveryAttempts).toBe(DEAD_LETTER_CONTRACT_ATTEMPTS);
        expect(letter.lastFailureAt).toBeInstanceOf(Date);
      });
      expect(new Set(listing.letters.map((l) => l.handle)).size).toBe(3);
      expect(again.letters.map((l) => l.handle)).toEqual(listing.letters.map((l) => l.handle));
    });

    it('a limit returns at most that many and says the listing may be incomplete', async () => {
      const sent = messages(3);
      await fixture.deadLetter(sent);

      const two = await queue.list({ limit: 2 });
      const none = await queue.list({ limit: 0 });

      expect(two.letters).toHaveLength(2);
      expect(two.complete).toBe(false);
      for (const id of eventIds(two.letters)) expect(sent.map((m) => m.id)).toContain(id);
      expect(none).toEqual({ letters: [], skipped: 0, complete: false });
      await expect(queue.list({ limit: -1 })).rejects.toMatchObject({ code: 'VALIDATION' });
    });

    it('a filter returns only the letters it accepts, counts the others as skipped, and counts toward the limit only what it accepts', async () => {
      const sent = messages(4);
      await fixture.deadLetter(sent);
      const wanted = new Set([sent[1]?.id, sent[3]?.id]);
      const where = (l: DeadLetter): boolean => wanted.has(l.attributes['ce-id']);

      const all = await queue.list({ where });
      const first = await queue.list({ where, limit: 1 });

      expect(all).toMatchObject({ skipped: 2, complete: true });
      expect(eventIds(all.letters)).toEqual([sent[1]?.id, sent[3]?.id]);
      expect(first.letters).toHaveLength(1);
      expect(wanted.has(first.letters[0]?.attributes['ce-id'])).toBe(true);
      expect(first.complete).toBe(false);
    });

    it('acknowledge removes exactly the named letters and ignores unknown handles', async () => {
      const sent = messages(3);
      await fixture.deadLetter(sent);
      const { letters } = await queue.list();

      await queue.acknowledge([letters[1]?.handle ?? '', 'no-such-handle', '', '999999999']);

      expect(eventIds((await queue.list()).letters)).toEqual([sent[0]?.id, sent[2]?.id]);
    });

    it('republish hands each letter once to the target, unchanged and in order, and removes those it acknowledged', async () => {
      const [a, b] = messages(2);
      if (a === undefined || b === undefined) throw new Error('test setup');
      // Two events of one entity: they must go back in the order they were dead-lettered.
      const later: OutboundMessage = changeToMessage(cartChange(run, { version: 3 }));
      await fixture.deadLetter([a, later, b]);
      const { letters } = await queue.list();
      const target = new RecordingPublisher();

      const outcomes = await queue.republish([...letters, letters[0] as DeadLetter], target);

      expect(outcomes.map((o) => o.handle)).toEqual(letters.map((l) => l.handle));
      expect(outcomes.map((o) => okOutcome(o).removed)).toEqual([true, true, true]);
      expect(target.published.map((m) => m.attributes['ce-id'])).toEqual([a.id, later.id, b.id]);
      target.published.forEach((m, i) => {
        const original = [a, later, b][i];
        expect(m.attributes).toEqual(original?.attributes);
        expect(m.data.equals(original?.data ?? Buffer.alloc(0))).toBe(true);
        expect(m.orderingKey).toBe(original?.orderingKey);
      });
      expect((await queue.list()).letters).toEqual([]);
    });

    it('republish keeps a letter whose publish failed, with the error in its outcome', async () => {
      const sent = messages(2);
      await fixture.deadLetter(sent);
      const { letters } = await queue.list();
      const target = new RecordingPublisher();
      target.refuse(sent[1]?.id ?? '');

      const outcomes = await queue.republish(letters, target);

      expect(outcomes[0]).toMatchObject({ ok: true, removed: true });
      expect(outcomes[1]).toMatchObject({ handle: letters[1]?.handle, ok: false });
      expect(outcomes[1]?.ok === false ? outcomes[1].error.message : '').toContain('refused');
      expect(eventIds((await queue.list()).letters)).toEqual([sent[1]?.id]);
    });

    it('a letter replayed twice (a stale listing) is published again and reported as not removed', async () => {
      const sent = messages(1);
      await fixture.deadLetter(sent);
      const { letters } = await queue.list();
      const target = new RecordingPublisher();
      await queue.republish(letters, target);

      const [second] = await queue.republish(letters, target);

      expect(okOutcome(second).removed).toBe(false);
      expect(target.published.map((m) => m.attributes['ce-id'])).toEqual([sent[0]?.id, sent[0]?.id]);
      expect((await queue.list()).letters).toEqual([]);
    });

    it('after close, every operation rejects with DEAD_LETTER.CLOSED', async () => {
      await fixture.deadLetter(messages(1));
      const { letters } = await queue.list();
      await queue.close();

      await expect(queue.list()).rejects.toMatchObject({ code: 'DEAD_LETTER.CLOSED' });
      await expect(queue.acknowledge(letters.map((l) => l.handle))).rejects.toMatchObject({
        code: 'DEAD_LETTER.CLOSED',
      });
      await expect(queue.republish(letters, new RecordingPublisher())).rejects.toMatchObject({
        code: 'DEAD_LETTER.CLOSED',
      });
    });
  });
}
