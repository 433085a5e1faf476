import { AppError } from '../errors';
import type { EventPublisher, OutboundMessage, PayloadStore, PublishOutcome } from '../ports';
import { payloadAttributes } from './payload-attributes';

export interface ClaimCheckOptions {
  /** Messages whose data is larger travel by reference (`payloads.inlineMaxBytes`). */
  readonly inlineMaxBytes: number;
  /** Where their data goes; absent when the backend has none configured. */
  readonly store: PayloadStore | undefined;
  /** The setting that gives the backend a store, for the error when it has none. */
  readonly storeSetting: string;
  /** Payloads written at once. */
  readonly concurrency?: number;
}

const EMPTY = Buffer.alloc(0);
const DEFAULT_CONCURRENCY = 4;

/**
 * The claim check on the way out: a message whose data (the record) is over `inlineMaxBytes` is
 * published without it, carrying its location, SHA-256 and size instead, once the store holds it
 * durably. The bus and its limits (Pub/Sub's 10 MB, the loader's push body) then only ever see
 * small messages, and the loader fetches the record back (`resolvePayloads`).
 *
 * A payload that could not be stored fails that message's outcome alone, like a refused publish:
 * the poller does not commit it, and the next cycle detects the change again.
 */
export function claimCheckPublisher(inner: EventPublisher, options: ClaimCheckOptions): EventPublisher {
  const concurrency = options.concurrency ?? DEFAULT_CONCURRENCY;
  return {
    async publish(messages: readonly OutboundMessage[]): Promise<PublishOutcome[]> {
      const large = messages.filter((m) => m.data.length > options.inlineMaxBytes);
      if (large.length === 0) return inner.publish(messages);
      const replaced = new Map<OutboundMessage, OutboundMessage>();
      const failed = new Map<string, PublishOutcome>();
      await forEachLimited(large, concurrency, async (message) => {
        try {
          if (options.store === undefined) {
            throw new AppError(
              'PAYLOAD.UNAVAILABLE',
              `the record of event ${message.id} (${message.orderingKey}) is ${message.data.length} bytes, over payloads.inlineMaxBytes (${options.inlineMaxBytes}), and there is no payload store to put it in: set ${options.storeSetting}`,
              { retryable: false },
            );
          }
          const ref = await options.store.put(message.data);
          replaced.set(message, {
            ...message,
            data: EMPTY,
            attributes: { ...message.attributes, ...payloadAttributes(ref) },
          });
        } catch (e: unknown) {
          failed.set(message.id, { id: message.id, ok: false, error: e instanceof Error ? e : new Error(String(e)) });
        }
      });
      const toPublish = messages.filter((m) => !failed.has(m.id)).map((m) => replaced.get(m) ?? m);
      const published = toPublish.length === 0 ? [] : await inner.publish(toPublish);
      const byId = new Map(published.map((o) => [o.id, o]));
      // In the order given, as the port promises; a message the inner publisher did not answer
      // for stays unanswered (the poller counts it as failed).
      return messages.flatMap((m) => {
        const outcome = failed.get(m.id) ?? byId.get(m.id);
        return outcome === undefined ? [] : [outcome];
      });
    },
    close: () => inner.close(),
  };
}

async function forEachLimited<T>(items: readonly T[], limit: number, work: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const item = items[next] as T;
      next += 1;
      await work(item);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}
