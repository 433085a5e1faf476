import { errorMessage, isRetryable } from '@changefeed/shared/errors';
import { payloadRefOf } from '@changefeed/shared/payloads';
import type { PayloadStore } from '@changefeed/shared/ports';
import type { LoaderMessage } from './batch-loader';

/** What the claim check made of one message before it is decoded. */
export type Resolution =
  /** The record travelled in the message. */
  | { readonly kind: 'inline' }
  /** The record was fetched from the payload store and checked against the reference. */
  | { readonly kind: 'resolved'; readonly data: Buffer }
  /** The reference can never be resolved (malformed, foreign, or the payload differs): `_rejected`. */
  | { readonly kind: 'refused'; readonly reason: string }
  /** Not now (store unreachable, payload not found): the bus delivers it again. */
  | { readonly kind: 'failed'; readonly error: unknown };

const DEFAULT_CONCURRENCY = 4;

/**
 * Fetches the records of the claim-checked messages of a batch (`claimCheckPublisher`), a few at a
 * time; inline messages cost nothing. One resolution per message, in order; never rejects.
 */
export async function resolvePayloads(
  messages: readonly LoaderMessage[],
  store: Pick<PayloadStore, 'get'> | undefined,
  storeSetting: string,
  concurrency = DEFAULT_CONCURRENCY,
): Promise<Resolution[]> {
  const resolutions: Resolution[] = messages.map(() => ({ kind: 'inline' }));
  const work: { index: number; run: () => Promise<Resolution> }[] = [];
  messages.forEach((message, index) => {
    if ('unreadable' in message) return;
    let ref;
    try {
      ref = payloadRefOf(message.attributes);
    } catch (e: unknown) {
      resolutions[index] = { kind: 'refused', reason: errorMessage(e) };
      return;
    }
    if (ref === undefined) return;
    const found = ref;
    work.push({
      index,
      run: async () => {
        if (store === undefined) {
          return {
            kind: 'failed',
            error: new Error(
              `message ${message.messageId} refers to payload ${found.location}, but this loader has no payload store: set ${storeSetting}`,
            ),
          };
        }
        try {
          return { kind: 'resolved', data: await store.get(found) };
        } catch (e: unknown) {
          return isRetryable(e) ? { kind: 'failed', error: e } : { kind: 'refused', reason: errorMessage(e) };
        }
      },
    });
  });
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < work.length) {
      const item = work[next];
      next += 1;
      if (item !== undefined) resolutions[item.index] = await item.run();
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, work.length) }, worker));
  return resolutions;
}
