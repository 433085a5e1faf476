import { ValidationError, errorMessage } from '../errors';
import type { Logger } from '../log';
import type { DeadLetter, RepublishOutcome } from '../ports/dead-letter-queue';
import type { EventPublisher, OutboundMessage } from '../ports/event-publisher';

/**
 * The one republish rule every DeadLetterQueue follows: publish first, then remove exactly the
 * letters whose publish was acknowledged. A crash in between leaves a letter both republished and
 * still dead-lettered, so a later replay sends it again and the warehouse drops the duplicate by
 * event id; the other order could lose it.
 *
 * `remove` takes the handles to remove and returns those it found and removed.
 */
export async function republishThenRemove(
  letters: readonly DeadLetter[],
  to: EventPublisher,
  remove: (handles: readonly string[]) => Promise<ReadonlySet<string>>,
  log: Logger,
): Promise<RepublishOutcome[]> {
  const unique = [...new Map(letters.map((l) => [l.handle, l])).values()];
  if (unique.length === 0) return [];
  const outcomes = await to.publish(unique.map(toOutboundMessage));
  const published = outcomes.flatMap((o) => (o.ok ? [o.id] : []));
  let removed: ReadonlySet<string> = new Set<string>();
  try {
    removed = await remove(published);
  } catch (e: unknown) {
    // Published but still dead letters: nothing is lost, so the outcomes say so rather than throw.
    log.error('republished dead letters could not be removed', {
      republished: published.length,
      error: errorMessage(e),
    });
  }
  log.info('dead letters republished', {
    letters: unique.length,
    republished: published.length,
    removed: removed.size,
    failed: unique.length - published.length,
  });
  return outcomes.map((o): RepublishOutcome =>
    o.ok
      ? { handle: o.id, ok: true, messageId: o.messageId, removed: removed.has(o.id) }
      : { handle: o.id, ok: false, error: o.error },
  );
}

function toOutboundMessage(letter: DeadLetter): OutboundMessage {
  return {
    // The handle, not the CloudEvent id: two dead letters may be deliveries of one event.
    id: letter.handle,
    orderingKey: letter.orderingKey ?? '',
    data: letter.data,
    attributes: { ...letter.attributes },
  };
}

/** `DeadLetterQuery.limit` checked: undefined (no limit) becomes +Infinity; anything but an integer >= 0 throws. */
export function checkedListLimit(limit: number | undefined): number {
  if (limit === undefined) return Number.POSITIVE_INFINITY;
  if (!Number.isInteger(limit) || limit < 0) {
    throw new ValidationError(`invalid limit ${limit}: expected an integer >= 0`, [
      { path: 'limit', message: 'expected an integer >= 0' },
    ]);
  }
  return limit;
}
