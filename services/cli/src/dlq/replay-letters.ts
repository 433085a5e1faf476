import { DEFAULTS } from '@changefeed/shared/config';
import { AppError, errorMessage } from '@changefeed/shared/errors';
import type { Clock, DeadLetter, DeadLetterQueue, EventPublisher, RepublishOutcome } from '@changefeed/shared/ports';
import { RateLimiter } from '@changefeed/shared/source';

export interface ReplayDeps {
  readonly queue: DeadLetterQueue;
  /** The bus the letters were dead-lettered from. */
  readonly publisher: EventPublisher;
  readonly clock: Clock;
  /** Aborted by Ctrl-C: the step in flight settles, no further step starts. */
  readonly signal: AbortSignal;
}

export interface ReplayOptions {
  /** Oldest first, as the queue listed them: letters of one ordering key go back in this order. */
  readonly letters: readonly DeadLetter[];
  /** At most this many messages per second, on average; undefined: as fast as the bus acknowledges. */
  readonly ratePerSecond?: number;
  /** See DEFAULTS.dlqReplayBatchSize. */
  readonly batchSize?: number;
  /** Called after each step with what became of its letters. */
  readonly onSettled?: (outcomes: readonly LetterOutcome[]) => void;
}

/** What became of one letter. */
export type LetterOutcome =
  | {
      readonly letter: DeadLetter;
      readonly replayed: true;
      readonly messageId: string;
      /** False: republished but still a dead letter (see RepublishOutcome.removed). */
      readonly removed: boolean;
    }
  | { readonly letter: DeadLetter; readonly replayed: false; readonly error: Error };

export interface ReplayResult {
  readonly replayed: number;
  /** Of the replayed ones, those still listed as dead letters; a later replay sends them again. */
  readonly notRemoved: number;
  readonly failed: number;
  /** Not tried because the run was interrupted or stopped; they are still dead letters. */
  readonly notAttempted: number;
  readonly interrupted: boolean;
  /** Why the run stopped before the end: the bus refuses every message (no such topic, no permission, closed). */
  readonly stoppedBy?: Error;
}

/** Codes (`<prefix>.<failure>`, see PubSubFailure) after which every further message would fail the same way. */
const FATAL_FAILURE = /\.(NOT_FOUND|PERMISSION_DENIED|CLOSED)$/;

/**
 * Republishes dead letters step by step: each step republishes a batch and removes the letters whose
 * republish was acknowledged (DeadLetterQueue.republish), so at any moment every letter is either
 * replayed and removed, or still a dead letter. Abort stops between steps. A crash inside a step can
 * leave letters republished but not removed; the next replay sends them again and the warehouse
 * drops the duplicates by event id.
 *
 * Once a letter fails, later letters of its ordering key are not sent in this run, so an entity's
 * events never go back out of order.
 */
export async function replayLetters(deps: ReplayDeps, options: ReplayOptions): Promise<ReplayResult> {
  const { queue, publisher, clock, signal } = deps;
  const { letters, ratePerSecond } = options;
  const maxBatch = options.batchSize ?? DEFAULTS.dlq.replayBatchSize;
  // With a rate, a step carries about one second's worth, and steps are spaced to keep the average.
  const batchSize = ratePerSecond === undefined ? maxBatch : Math.max(1, Math.min(maxBatch, Math.floor(ratePerSecond)));
  const limiter = ratePerSecond === undefined ? undefined : new RateLimiter(ratePerSecond / batchSize, clock);
  const failedKeys = new Map<string, Error>();
  const counts = { replayed: 0, notRemoved: 0, failed: 0 };
  let next = 0;
  let interrupted = false;
  let stoppedBy: Error | undefined;

  while (next < letters.length) {
    if (signal.aborted) {
      interrupted = true;
      break;
    }
    if (limiter !== undefined) {
      try {
        await limiter.take(signal);
      } catch (e: unknown) {
        if (!signal.aborted) throw e;
        interrupted = true;
        break;
      }
    }
    const batch = letters.slice(next, next + batchSize);
    next += batch.length;
    const { outcomes, thrown } = await replayStep(queue, publisher, batch, failedKeys);
    stoppedBy = thrown;
    for (const o of outcomes) {
      if (o.replayed) {
        counts.replayed++;
        if (!o.removed) counts.notRemoved++;
      } else {
        counts.failed++;
        const key = o.letter.orderingKey;
        if (key !== null && !failedKeys.has(key)) failedKeys.set(key, o.error);
        if (stoppedBy === undefined && isFatal(o.error)) stoppedBy = o.error;
      }
    }
    options.onSettled?.(outcomes);
    if (stoppedBy !== undefined) break;
  }
  return {
    ...counts,
    notAttempted: letters.length - next,
    interrupted,
    ...(stoppedBy === undefined ? {} : { stoppedBy }),
  };
}

async function replayStep(
  queue: DeadLetterQueue,
  publisher: EventPublisher,
  batch: readonly DeadLetter[],
  failedKeys: ReadonlyMap<string, Error>,
): Promise<{ readonly outcomes: LetterOutcome[]; readonly thrown?: Error }> {
  const heldBack = new Map<string, Error>();
  for (const letter of batch) {
    const earlier = letter.orderingKey === null ? undefined : failedKeys.get(letter.orderingKey);
    if (earlier !== undefined) heldBack.set(letter.handle, heldBackError(letter.orderingKey ?? '', earlier));
  }
  const toSend = batch.filter((l) => !heldBack.has(l.handle));
  let results: ReadonlyMap<string, RepublishOutcome>;
  let thrown: Error | undefined;
  try {
    results = new Map((await queue.republish(toSend, publisher)).map((o) => [o.handle, o]));
  } catch (e: unknown) {
    // The queue itself failed (closed, unreachable) or the publisher threw: none of these was
    // removed, so all are still dead letters, whether or not their publish got through.
    thrown = e instanceof Error ? e : new Error(errorMessage(e));
    const error = thrown;
    results = new Map(toSend.map((l) => [l.handle, { handle: l.handle, ok: false, error }]));
  }
  const outcomes = batch.map((letter): LetterOutcome => {
    const held = heldBack.get(letter.handle);
    if (held !== undefined) return { letter, replayed: false, error: held };
    const r = results.get(letter.handle);
    if (r === undefined) {
      return {
        letter,
        replayed: false,
        error: new AppError('DLQ.NO_OUTCOME', 'the dead-letter queue reported nothing'),
      };
    }
    return r.ok
      ? { letter, replayed: true, messageId: r.messageId, removed: r.removed }
      : { letter, replayed: false, error: r.error };
  });
  return thrown === undefined ? { outcomes } : { outcomes, thrown };
}

function heldBackError(orderingKey: string, earlier: Error): AppError {
  return new AppError(
    'DLQ.ORDERING_KEY_HELD',
    `not replayed: an earlier dead letter of ordering key ${orderingKey} failed (${errorMessage(earlier)})`,
    { cause: earlier, details: { orderingKey } },
  );
}

function isFatal(error: Error): boolean {
  if (!(error instanceof AppError)) return false;
  if (FATAL_FAILURE.test(error.code)) return true;
  return error.cause !== undefined && error.cause instanceof Error && isFatal(error.cause);
}
