import type { EventPublisher } from './event-publisher';

/** A message the bus gave up delivering, kept with what is known of why. */
export interface DeadLetter {
  /** The dead-letter queue's own handle for this message (used to acknowledge it). */
  readonly handle: string;
  readonly messageId: string;
  readonly orderingKey: string | null;
  readonly data: Buffer;
  /** The attributes it was published with; whatever the bus added when dead-lettering it is left out. */
  readonly attributes: Readonly<Record<string, string>>;
  readonly deliveryAttempts: number;
  readonly firstFailureAt: Date | null;
  /** When its last delivery failed, i.e. when it was dead-lettered. */
  readonly lastFailureAt: Date | null;
  readonly lastError: string | null;
}

/** Which dead letters `list` returns. */
export interface DeadLetterQuery {
  /** At most this many letters (an integer >= 0). Absent: every letter the queue holds, up to its own read bound. */
  readonly limit?: number;
  /** Only letters it accepts are returned and count toward the limit; absent: every letter. */
  readonly where?: (letter: DeadLetter) => boolean;
}

export interface DeadLetterListing {
  /** Oldest first (by when they were dead-lettered). */
  readonly letters: DeadLetter[];
  /** Letters read that `where` turned down. */
  readonly skipped: number;
  /**
   * True when the whole queue was read, so no letter exists beyond `letters` and the skipped ones
   * (at the time of reading). False when reading stopped at the limit or at the queue's own read
   * bound, even if nothing more was there.
   */
  readonly complete: boolean;
}

/** What became of one dead letter handed to `republish`. */
export type RepublishOutcome =
  | {
      readonly handle: string;
      readonly ok: true;
      /** The message id the bus gave the republished message. */
      readonly messageId: string;
      /**
       * False when the letter was published but could not be removed from the dead letters (it was
       * gone already, or the removal failed): it stays listed, and a later replay publishes it
       * again, which the warehouse drops as a duplicate event id.
       */
      readonly removed: boolean;
    }
  | { readonly handle: string; readonly ok: false; readonly error: Error };

export interface DeadLetterQueue {
  /** Dead letters, oldest first. Does not remove them. */
  list(query?: DeadLetterQuery): Promise<DeadLetterListing>;
  /** Removes dead letters. Unknown handles are ignored. */
  acknowledge(handles: readonly string[]): Promise<void>;
  /**
   * Publishes the letters to `to` (the bus they were dead-lettered from) with their data, attributes
   * and ordering key, in the order given, then removes from the dead letters exactly those whose
   * publish `to` acknowledged. A letter whose publish failed stays, with the error in its outcome.
   * One outcome per distinct handle; never rejects for a per-letter failure.
   */
  republish(letters: readonly DeadLetter[], to: EventPublisher): Promise<RepublishOutcome[]>;
  close(): Promise<void>;
}
