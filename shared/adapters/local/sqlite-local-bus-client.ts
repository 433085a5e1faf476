import { AppError, errorMessage } from '../../errors';
import { createLogger, type Logger } from '../../log';
import { systemClock, type Clock } from '../../ports/clock';
import type {
  DeadLetter,
  DeadLetterListing,
  DeadLetterQuery,
  DeadLetterQueue,
  RepublishOutcome,
} from '../../ports/dead-letter-queue';
import type { EventPublisher, OutboundMessage, PublishOutcome } from '../../ports/event-publisher';
import { checkedListLimit, republishThenRemove } from '../dead-letter-rules';
import { LocalBusStore } from './local-bus-store';

export interface LocalBusClientOptions {
  readonly clock?: Clock;
  readonly logger?: Logger;
}

/** Dead letters read per query while listing, so a long dead-letter table is never held in memory at once. */
const LIST_PAGE_ROWS = 500;

/**
 * The local bus file as a publisher and a dead-letter queue, without delivering anything: what
 * `changefeed dlq` opens, whether or not a `changefeed run` is delivering from the same file (that
 * process picks up what this one publishes). SqliteLocalBus, which delivers, publishes and works
 * its dead letters through one of these.
 */
export class SqliteLocalBusClient implements EventPublisher, DeadLetterQueue {
  private readonly clock: Clock;
  private readonly log: Logger;
  private closed = false;

  constructor(
    private readonly store: LocalBusStore,
    options: LocalBusClientOptions = {},
  ) {
    this.clock = options.clock ?? systemClock;
    this.log = (options.logger ?? createLogger('local-bus')).child({ component: 'local-bus-dead-letters' });
  }

  /** Opens an existing bus file; BUS.UNAVAILABLE when there is none, since nothing was ever published there. */
  static open(file: string, options: LocalBusClientOptions = {}): SqliteLocalBusClient {
    return new SqliteLocalBusClient(LocalBusStore.open(file, { mustExist: true }), options);
  }

  /**
   * Appends the messages in one transaction; once this resolves they survive a crash. Either all
   * outcomes are ok (each with its message id) or all failed with the same error.
   */
  publish(messages: readonly OutboundMessage[]): Promise<PublishOutcome[]> {
    if (messages.length === 0) return Promise.resolve([]);
    if (this.closed) return Promise.resolve(failAll(messages, new AppError('BUS.CLOSED', 'the local bus is closed')));
    let ids: string[];
    try {
      ids = this.store.publish(messages, this.clock.now().getTime());
    } catch (e: unknown) {
      const error = new AppError('BUS.PUBLISH_FAILED', `local bus could not store messages: ${errorMessage(e)}`, {
        retryable: true,
        cause: e,
      });
      return Promise.resolve(failAll(messages, error));
    }
    return Promise.resolve(messages.map((m, i): PublishOutcome => ({ id: m.id, ok: true, messageId: ids[i] ?? '' })));
  }

  /** Dead letters in the order they were dead-lettered; reads the whole table when there is no limit. */
  list(query: DeadLetterQuery = {}): Promise<DeadLetterListing> {
    return this.whenOpen(() => {
      const limit = checkedListLimit(query.limit);
      const letters: DeadLetter[] = [];
      let skipped = 0;
      let after = 0;
      while (letters.length < limit) {
        const page = this.store.deadLettersAfter(after, LIST_PAGE_ROWS);
        if (page.length === 0) return { letters, skipped, complete: true };
        for (const letter of page) {
          after = Number(letter.handle);
          if (letters.length >= limit) break;
          if (query.where === undefined || query.where(letter)) letters.push(letter);
          else skipped++;
        }
      }
      return { letters, skipped, complete: false };
    });
  }

  acknowledge(handles: readonly string[]): Promise<void> {
    return this.whenOpen(() => {
      this.store.acknowledgeDeadLetters(parseHandles(handles));
    });
  }

  /**
   * Publishes the letters to `to` (usually this bus file, or the running SqliteLocalBus on it), then
   * removes the acknowledged ones (see republishThenRemove). Publishing makes a new message at the
   * back of the queue, with a new message id, as a publish to Pub/Sub does.
   */
  republish(letters: readonly DeadLetter[], to: EventPublisher): Promise<RepublishOutcome[]> {
    return this.whenOpen(() =>
      republishThenRemove(
        letters,
        to,
        (handles) => this.whenOpen(() => new Set(this.store.acknowledgeDeadLetters(parseHandles(handles)).map(String))),
        this.log,
      ),
    );
  }

  /** Closes the file. Idempotent. */
  close(): Promise<void> {
    this.closed = true;
    this.store.close();
    return Promise.resolve();
  }

  /** Runs `work` on the open file; every failure, a closed queue included, becomes a rejection. */
  private whenOpen<T>(work: () => T | Promise<T>): Promise<T> {
    try {
      if (this.closed) throw new AppError('DEAD_LETTER.CLOSED', 'the local dead-letter queue is closed');
      return Promise.resolve(work());
    } catch (e: unknown) {
      return Promise.reject(e instanceof Error ? e : new Error(errorMessage(e)));
    }
  }
}

/** Handles are the decimal row ids list() hands out; anything else names no dead letter. */
function parseHandles(handles: readonly string[]): number[] {
  return handles.filter((h) => /^\d{1,15}$/.test(h)).map(Number);
}

function failAll(messages: readonly OutboundMessage[], error: Error): PublishOutcome[] {
  return messages.map((m) => ({ id: m.id, ok: false, error }));
}
