/** Why one attempt at a page request failed; the input to the single transient-or-not decision. */
export type AttemptFailure =
  | { readonly kind: 'status'; readonly status: number }
  | { readonly kind: 'timeout' }
  | { readonly kind: 'network'; readonly code: string };

/** HTTP statuses that say "try again later" (RFC 9110 §15.5.9 408, RFC 6585 §4 429) besides 5xx. */
const TRANSIENT_4XX = new Set([408, 429]);

/**
 * The one place that decides whether a failed attempt is worth another: 5xx, 408, 429, timeouts
 * and network errors are transient; every other status (401, 403, 404, 400...) fails at once
 * because asking again gets the same answer.
 */
export function isTransientFailure(failure: AttemptFailure): boolean {
  switch (failure.kind) {
    case 'status':
      return failure.status >= 500 || TRANSIENT_4XX.has(failure.status);
    case 'timeout':
    case 'network':
      return true;
  }
}

export interface BackoffPolicy {
  readonly minBackoffMs: number;
  readonly maxBackoffMs: number;
}

/**
 * The wait before try `attempt + 1` after try `attempt` (1-based) failed: exponential growth from
 * `minBackoffMs` (doubling per try, capped at `maxBackoffMs`) with full jitter, i.e. uniform
 * between `minBackoffMs` and that cap, so that many clients retrying together spread out.
 * https://aws.amazon.com/blogs/architecture/exponential-backoff-and-jitter/
 * `random` returns [0, 1) like Math.random.
 */
export function backoffDelayMs(attempt: number, policy: BackoffPolicy, random: () => number): number {
  const min = Math.max(0, policy.minBackoffMs);
  const max = Math.max(min, policy.maxBackoffMs);
  const cap = Math.min(max, min * 2 ** Math.max(0, attempt - 1));
  return Math.round(min + random() * (cap - min));
}

/**
 * Milliseconds a `Retry-After` header asks to wait (RFC 9110 §10.2.3: delay-seconds or an
 * HTTP-date), or undefined when absent or unparseable. A date in the past means 0.
 */
export function parseRetryAfterMs(header: string | undefined, now: Date): number | undefined {
  if (header === undefined) return undefined;
  const text = header.trim();
  if (text === '') return undefined;
  if (/^\d+$/.test(text)) return Number(text) * 1000;
  // Only a date with a month or day name: Date.parse would take "-1" for the year -1.
  if (!/[a-z]/i.test(text)) return undefined;
  const at = Date.parse(text);
  if (Number.isNaN(at)) return undefined;
  return Math.max(0, at - now.getTime());
}

/**
 * The wait before the next try: the backoff, or what the server asked for when that is longer
 * (capped at `maxRetryAfterMs` so one odd header cannot stall a source for hours).
 */
export function retryDelayMs(backoffMs: number, retryAfterMs: number | undefined, maxRetryAfterMs: number): number {
  if (retryAfterMs === undefined) return backoffMs;
  return Math.max(backoffMs, Math.min(retryAfterMs, maxRetryAfterMs));
}
