import { AppError, isRetryable } from '@changefeed/shared/errors';
import type { Clock } from '@changefeed/shared/ports';
import type { BatchLoader, LoaderMessage, MessageOutcome } from './batch-loader';

/** How messages are grouped; `loader.groupCommitMaxRows` and `loader.groupCommitMaxDelay` in the config. */
export interface MessageBatcherOptions {
  /** A batch is loaded as soon as it holds this many messages. */
  readonly maxMessages: number;
  /** ...or this long after its first message arrived; 0 loads on the next turn of the event loop. */
  readonly maxDelayMs: number;
  /** Times the delay: tests pass a clock they move by hand. */
  readonly clock: Clock;
}

/** The code of the error a message submitted after `close()` fails with: another instance must take it. */
export const BATCHER_CLOSED = 'LOADER.CLOSING';

/**
 * Group commit for the push path: messages submitted by concurrent requests are loaded together by
 * one BatchLoader call, and each submitter gets its own message's outcome once that call resolved.
 *
 * At most one batch is loading at a time, because the warehouses serialize writes to a table
 * anyway (DuckDB has one writer; a BigQuery write stream takes appends in order): a second
 * concurrent load would only queue inside the sink, while here the messages that arrive meanwhile
 * join one bigger batch. So the busier the sink, the larger the batches, and the extra latency is
 * bounded by `maxDelayMs` plus the load in flight.
 */
export class MessageBatcher {
  private readonly queue: Batch[] = [];
  private inFlight: Batch | undefined;
  private closed = false;

  constructor(
    private readonly load: BatchLoader,
    private readonly options: MessageBatcherOptions,
  ) {}

  /**
   * Resolves with what became of `message` once the load holding it finished; never rejects.
   * After `close()` it fails at once, retryable, so the bus redelivers the message elsewhere.
   */
  submit(message: LoaderMessage): Promise<MessageOutcome> {
    if (this.closed) {
      const error = new AppError(BATCHER_CLOSED, 'the loader is shutting down', { retryable: true });
      return Promise.resolve({ kind: 'failed', messageId: message.messageId ?? '', error, retryable: true });
    }
    let batch = this.queue.at(-1);
    if (batch === undefined || batch.entries.length >= this.options.maxMessages) batch = this.open();
    const target = batch;
    const outcome = new Promise<MessageOutcome>((resolve) => target.entries.push({ message, resolve }));
    if (target.entries.length >= this.options.maxMessages) this.markDue(target);
    return outcome;
  }

  /** Messages submitted and not yet settled (waiting for their batch, or loading). */
  pending(): number {
    return this.queue.reduce((n, b) => n + b.entries.length, this.inFlight?.entries.length ?? 0);
  }

  /** Loads every batch now, without waiting for its delay; resolves once all submitted before have settled. */
  async flush(): Promise<void> {
    const batches = this.inFlight === undefined ? [...this.queue] : [this.inFlight, ...this.queue];
    for (const batch of this.queue) batch.due = true;
    for (const batch of batches) batch.delay.abort();
    this.pump();
    await Promise.all(batches.map((b) => b.settled));
  }

  /** Stops taking messages (new submits fail as retryable), then flushes what was submitted. */
  async close(): Promise<void> {
    this.closed = true;
    await this.flush();
  }

  private open(): Batch {
    let finish!: () => void;
    const settled = new Promise<void>((resolve) => {
      finish = resolve;
    });
    const batch: Batch = { entries: [], due: false, delay: new AbortController(), settled, finish };
    this.queue.push(batch);
    this.options.clock.sleep(this.options.maxDelayMs, batch.delay.signal).then(
      () => this.markDue(batch),
      // Aborted: the batch became due some other way.
      () => undefined,
    );
    return batch;
  }

  private markDue(batch: Batch): void {
    if (batch.due) return;
    batch.due = true;
    batch.delay.abort();
    this.pump();
  }

  /** Loads the oldest batch once it is due and nothing else is loading. */
  private pump(): void {
    if (this.inFlight !== undefined) return;
    const head = this.queue[0];
    if (head === undefined || !head.due) return;
    this.queue.shift();
    this.inFlight = head;
    void this.run(head);
  }

  private async run(batch: Batch): Promise<void> {
    try {
      let outcomes: readonly MessageOutcome[];
      try {
        outcomes = await this.load(batch.entries.map((e) => e.message));
      } catch (e: unknown) {
        // A BatchLoader does not reject; should one do so, no submitter may be left waiting.
        outcomes = batch.entries.map((entry) => failed(entry.message, e));
      }
      batch.entries.forEach((entry, i) => {
        entry.resolve(outcomes[i] ?? failed(entry.message, new Error('the batch loader gave no outcome')));
      });
    } finally {
      batch.finish();
      this.inFlight = undefined;
      this.pump();
    }
  }
}

function failed(message: LoaderMessage, error: unknown): MessageOutcome {
  return { kind: 'failed', messageId: message.messageId ?? '', error, retryable: isRetryable(error) };
}

interface Entry {
  readonly message: LoaderMessage;
  readonly resolve: (outcome: MessageOutcome) => void;
}

interface Batch {
  readonly entries: Entry[];
  /** Becomes true when full, when its delay ran out, or on flush; only due batches are loaded. */
  due: boolean;
  /** Cancels the delay once the batch is due for another reason. */
  readonly delay: AbortController;
  /** Resolves once the batch's load finished; for flush(). */
  readonly settled: Promise<void>;
  readonly finish: () => void;
}
