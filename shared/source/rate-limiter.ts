import type { Clock } from '../ports';

/**
 * At most `requestsPerSecond` requests, spread evenly: a token bucket holding `burst` tokens
 * (1 by default, the strictest reading of an API's "N requests per second"), refilled at the rate.
 * Slots are reserved synchronously before sleeping, so concurrent callers never share one.
 * Time comes from the injected clock, so tests see the waits without sleeping.
 */
export class RateLimiter {
  private readonly intervalMs: number;
  private readonly burstMs: number;
  /** The theoretical time the bucket is full again (GCRA's "TAT"), in epoch ms. */
  private fullAt = Number.NEGATIVE_INFINITY;

  constructor(
    requestsPerSecond: number,
    private readonly clock: Clock,
    burst = 1,
  ) {
    if (!(requestsPerSecond > 0)) throw new RangeError(`rate limit must be > 0, got ${requestsPerSecond}`);
    this.intervalMs = 1000 / requestsPerSecond;
    this.burstMs = Math.max(1, burst) * this.intervalMs;
  }

  /** Resolves when a request may go out; rejects if `signal` aborts while waiting. Returns the wait in ms. */
  async take(signal?: AbortSignal): Promise<number> {
    const now = this.clock.now().getTime();
    const start = Math.max(now, this.fullAt);
    this.fullAt = start + this.intervalMs;
    const waitMs = Math.ceil(this.fullAt - this.burstMs - now);
    if (waitMs > 0) await this.clock.sleep(waitMs, signal);
    return Math.max(0, waitMs);
  }
}
