/** A message the bus gave up delivering, kept with what is known of why. */
export interface DeadLetter {
  /** The dead-letter queue's own handle for this message (used to acknowledge it). */
  readonly handle: string;
  readonly messageId: string;
  readonly orderingKey: string | null;
  readonly data: Buffer;
  readonly attributes: Readonly<Record<string, string>>;
  readonly deliveryAttempts: number;
  readonly firstFailureAt: Date | null;
  readonly lastFailureAt: Date | null;
  readonly lastError: string | null;
}

export interface DeadLetterQueue {
  /** Dead letters, oldest first, at most `limit`. Does not remove them. */
  list(limit: number): Promise<DeadLetter[]>;
  /** Removes dead letters (after they were republished). Unknown handles are ignored. */
  acknowledge(handles: readonly string[]): Promise<void>;
  close(): Promise<void>;
}
