/**
 * Sends a poll cycle's publish groups one at a time, in order, while the cycle goes on fetching:
 * `submit` starts a group once the one before it is done, so at most one group is in flight and
 * one more is being gathered, which bounds the records a cycle holds whatever its size.
 *
 * One at a time because each group is pending record → publish → commit against one snapshot: two
 * in flight could commit out of order, and a key's later event could overtake its earlier one.
 *
 * After a group fails, nothing more is sent: the failure is thrown by the next `submit` and by
 * `finish`, and the groups refused are counted in `notAttempted`. Once `signal` is aborted, groups
 * not yet started are not sent either (the one in flight finishes and commits).
 */
export class GroupSender<T> {
  private inFlight: Promise<void> | undefined;
  private failure: { readonly error: unknown } | undefined;
  private started = 0;
  private skipped = 0;

  constructor(
    private readonly send: (group: readonly T[], index: number) => Promise<void>,
    private readonly signal: AbortSignal | undefined,
  ) {}

  /** Waits for the group in flight, then starts this one (or counts it as not attempted). */
  async submit(group: readonly T[]): Promise<void> {
    await this.settle();
    if (this.failure !== undefined) {
      this.skipped += group.length;
      throw this.failure.error;
    }
    if (this.signal?.aborted === true) {
      this.skipped += group.length;
      return;
    }
    const index = this.started;
    this.started += 1;
    // Caught here so a failure while the cycle awaits a page is not an unhandled rejection; it is
    // rethrown by the next submit or finish.
    this.inFlight = this.send(group, index).catch((error: unknown) => {
      this.failure ??= { error };
    });
  }

  /** Waits for the group in flight; never throws. */
  async settle(): Promise<void> {
    const inFlight = this.inFlight;
    this.inFlight = undefined;
    await inFlight;
  }

  /** Waits for the group in flight and throws the first failure, if any. */
  async finish(): Promise<void> {
    await this.settle();
    if (this.failure !== undefined) throw this.failure.error;
  }

  /** Groups started, the failed one included. */
  get sent(): number {
    return this.started;
  }

  /** Items of groups that were not sent: after a failure, or once the signal was aborted. */
  get notAttempted(): number {
    return this.skipped;
  }
}
