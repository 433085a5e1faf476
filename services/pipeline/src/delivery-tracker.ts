import type { PushedMessage } from '@changefeed/shared/events';
import type { Clock, PublishOutcome } from '@changefeed/shared/ports';
import type { MessageOutcome } from '@changefeed/loader';

/** How far the messages published during one `run --once` got. */
export interface DeliveryCounts {
  /** Acknowledged by Pub/Sub. */
  readonly published: number;
  /** Of those, stored by the loader: a row in `_changes` or in `_rejected`. */
  readonly stored: number;
  /** Of the stored ones, those in `_rejected`. */
  readonly rejected: number;
  /** Of those, failed on what the dead-letter policy makes their last delivery attempt. */
  readonly deadLettered: number;
  /** Published and neither stored nor dead-lettered (yet). */
  readonly missing: number;
  /** Messages the loader stored that this run did not publish (a backlog on the subscription). */
  readonly older: number;
}

/**
 * Matches what the poller published (Pub/Sub message ids from the publish acks) with what the
 * loader stored, by message id, which stays the same across redeliveries. A message may be
 * loaded before its publish ack reaches the poller, so both sides are kept and compared, not
 * counted. A load that fails on attempt `maxDeliveryAttempts` or later counts as dead-lettered:
 * Pub/Sub forwards it to the dead-letter topic instead of delivering it again.
 */
export class DeliveryTracker {
  private readonly published = new Set<string>();
  private readonly stored = new Set<string>();
  private readonly rejected = new Set<string>();
  private readonly deadLettered = new Set<string>();

  constructor(private readonly maxDeliveryAttempts: number) {}

  onPublished(outcomes: readonly PublishOutcome[]): void {
    for (const o of outcomes) if (o.ok) this.published.add(o.messageId);
  }

  onLoaded(messages: readonly PushedMessage[], outcomes: readonly MessageOutcome[]): void {
    outcomes.forEach((o, i) => {
      if (o.kind === 'written') this.stored.add(o.messageId);
      else if (o.kind === 'rejected') {
        this.stored.add(o.messageId);
        this.rejected.add(o.messageId);
      } else if ((messages[i]?.deliveryAttempt ?? 0) >= this.maxDeliveryAttempts) {
        this.deadLettered.add(o.messageId);
      }
    });
  }

  counts(): DeliveryCounts {
    let stored = 0;
    let rejected = 0;
    let deadLettered = 0;
    for (const id of this.published) {
      if (this.stored.has(id)) {
        stored += 1;
        if (this.rejected.has(id)) rejected += 1;
      } else if (this.deadLettered.has(id)) {
        deadLettered += 1;
      }
    }
    return {
      published: this.published.size,
      stored,
      rejected,
      deadLettered,
      missing: this.published.size - stored - deadLettered,
      older: this.stored.size - stored,
    };
  }

  /**
   * Resolves once nothing published is missing, or after `timeoutMs` (then `missing` says how
   * many); rejects when `signal` aborts.
   */
  async waitUntilSettled(clock: Clock, timeoutMs: number, signal?: AbortSignal): Promise<DeliveryCounts> {
    const deadline = clock.now().getTime() + timeoutMs;
    let counts = this.counts();
    while (counts.missing > 0 && clock.now().getTime() < deadline) {
      await clock.sleep(SETTLE_POLL_MS, signal);
      counts = this.counts();
    }
    return counts;
  }
}

/** How often waitUntilSettled looks; loads land in batches at most every `loader.pull.batchMaxDelay`. */
const SETTLE_POLL_MS = 100;
