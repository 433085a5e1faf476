import { AppError } from '@changefeed/shared/errors';
import type {
  DeadLetter,
  DeadLetterListing,
  DeadLetterQuery,
  DeadLetterQueue,
  EventPublisher,
  OutboundMessage,
  PublishOutcome,
  RepublishOutcome,
} from '@changefeed/shared/ports';

/**
 * The bus a replay republishes to: records every publish call and acknowledges every message except
 * those whose event id (`ce-id`) was refused.
 */
export class RecordingPublisher implements EventPublisher {
  /** Every message acknowledged, in order. */
  readonly published: OutboundMessage[] = [];
  /** The messages of each publish call, acknowledged or not. */
  readonly calls: OutboundMessage[][] = [];
  private readonly refused = new Map<string, Error>();
  private refuseAll: Error | undefined;
  private next = 1;

  /** Refuses the message with this event id, with `error` (PUBLISH.REJECTED by default). */
  refuse(eventId: string, error: Error = new AppError('PUBLISH.REJECTED', `refused ${eventId}`)): void {
    this.refused.set(eventId, error);
  }

  /** Refuses every message, as a bus whose topic is gone does. */
  refuseEverything(error: Error): void {
    this.refuseAll = error;
  }

  publish(messages: readonly OutboundMessage[]): Promise<PublishOutcome[]> {
    this.calls.push([...messages]);
    return Promise.resolve(
      messages.map((m): PublishOutcome => {
        const error = this.refuseAll ?? this.refused.get(m.attributes['ce-id'] ?? '');
        if (error !== undefined) return { id: m.id, ok: false, error };
        this.published.push(m);
        return { id: m.id, ok: true, messageId: `republished-${this.next++}` };
      }),
    );
  }

  close(): Promise<void> {
    return Promise.resolve();
  }
}

/** A DeadLetterQueue in memory, held to the same contract as the real ones (see its unit test). */
export class MemoryDeadLetterQueue implements DeadLetterQueue {
  /** Makes republish reject, as a queue that cannot be reached does. */
  republishFails: Error | undefined;
  private letters: DeadLetter[] = [];
  private next = 1;
  private closed = false;

  /** Dead-letters `message` now, after `attempts` failed deliveries. */
  add(message: OutboundMessage, attempts: number, at: Date): DeadLetter {
    const handle = String(this.next++);
    const letter: DeadLetter = {
      handle,
      messageId: `m-${handle}`,
      orderingKey: message.orderingKey === '' ? null : message.orderingKey,
      data: message.data,
      attributes: { ...message.attributes },
      deliveryAttempts: attempts,
      firstFailureAt: at,
      lastFailureAt: at,
      lastError: 'HTTP 500',
    };
    this.letters.push(letter);
    return letter;
  }

  list(query: DeadLetterQuery = {}): Promise<DeadLetterListing> {
    if (this.closed) return Promise.reject(closedError());
    if (query.limit !== undefined && (!Number.isInteger(query.limit) || query.limit < 0)) {
      return Promise.reject(new AppError('VALIDATION', `invalid limit ${query.limit}`));
    }
    const limit = query.limit ?? Number.POSITIVE_INFINITY;
    const letters: DeadLetter[] = [];
    let skipped = 0;
    let read = 0;
    for (const letter of this.letters) {
      if (letters.length >= limit) break;
      read++;
      if (query.where === undefined || query.where(letter)) letters.push(letter);
      else skipped++;
    }
    return Promise.resolve({ letters, skipped, complete: read === this.letters.length && letters.length < limit });
  }

  acknowledge(handles: readonly string[]): Promise<void> {
    if (this.closed) return Promise.reject(closedError());
    this.remove(handles);
    return Promise.resolve();
  }

  async republish(letters: readonly DeadLetter[], to: EventPublisher): Promise<RepublishOutcome[]> {
    if (this.closed) throw closedError();
    if (this.republishFails !== undefined) throw this.republishFails;
    const unique = [...new Map(letters.map((l) => [l.handle, l])).values()];
    const outcomes = await to.publish(
      unique.map((l) => ({ id: l.handle, orderingKey: l.orderingKey ?? '', data: l.data, attributes: l.attributes })),
    );
    const removed = this.remove(outcomes.flatMap((o) => (o.ok ? [o.id] : [])));
    return outcomes.map((o) =>
      o.ok
        ? { handle: o.id, ok: true, messageId: o.messageId, removed: removed.has(o.id) }
        : { handle: o.id, ok: false, error: o.error },
    );
  }

  close(): Promise<void> {
    this.closed = true;
    return Promise.resolve();
  }

  private remove(handles: readonly string[]): Set<string> {
    const wanted = new Set(handles);
    const removed = new Set(this.letters.filter((l) => wanted.has(l.handle)).map((l) => l.handle));
    this.letters = this.letters.filter((l) => !wanted.has(l.handle));
    return removed;
  }
}

function closedError(): AppError {
  return new AppError('DEAD_LETTER.CLOSED', 'the dead-letter queue is closed');
}
