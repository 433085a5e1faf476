import { backoffDelayMs, isTransientFailure, parseRetryAfterMs, retryDelayMs } from '@changefeed/shared/source';

describe('isTransientFailure', () => {
  it.each([500, 502, 503, 504, 599, 408, 429])('retries HTTP %i', (status) => {
    expect(isTransientFailure({ kind: 'status', status })).toBe(true);
  });

  it.each([400, 401, 403, 404, 409, 410, 422])('does not retry HTTP %i', (status) => {
    expect(isTransientFailure({ kind: 'status', status })).toBe(false);
  });

  it('retries timeouts and network errors', () => {
    expect(isTransientFailure({ kind: 'timeout' })).toBe(true);
    expect(isTransientFailure({ kind: 'network', code: 'ECONNRESET' })).toBe(true);
  });
});

describe('backoffDelayMs', () => {
  const policy = { minBackoffMs: 100, maxBackoffMs: 1000 };

  it('is the minimum when the jitter draws 0', () => {
    expect(backoffDelayMs(1, policy, () => 0)).toBe(100);
    expect(backoffDelayMs(5, policy, () => 0)).toBe(100);
  });

  it('doubles its cap per attempt up to the maximum', () => {
    const top = (): number => 0.999999;
    expect(backoffDelayMs(1, policy, top)).toBe(100);
    expect(backoffDelayMs(2, policy, top)).toBe(200);
    expect(backoffDelayMs(3, policy, top)).toBe(400);
    expect(backoffDelayMs(4, policy, top)).toBe(800);
    expect(backoffDelayMs(5, policy, top)).toBe(1000);
    expect(backoffDelayMs(30, policy, top)).toBe(1000);
  });

  it('spreads uniformly between the minimum and the cap', () => {
    expect(backoffDelayMs(3, policy, () => 0.5)).toBe(250);
  });
});

describe('parseRetryAfterMs', () => {
  const now = new Date('2024-06-01T00:00:00.000Z');

  it('reads delay-seconds', () => {
    expect(parseRetryAfterMs('3', now)).toBe(3000);
    expect(parseRetryAfterMs(' 0 ', now)).toBe(0);
  });

  it('reads an HTTP date relative to now, and a past date as 0', () => {
    expect(parseRetryAfterMs('Sat, 01 Jun 2024 00:00:05 GMT', now)).toBe(5000);
    expect(parseRetryAfterMs('Fri, 31 May 2024 23:00:00 GMT', now)).toBe(0);
  });

  it('ignores absent or unparseable values', () => {
    expect(parseRetryAfterMs(undefined, now)).toBeUndefined();
    expect(parseRetryAfterMs('', now)).toBeUndefined();
    expect(parseRetryAfterMs('soon', now)).toBeUndefined();
    expect(parseRetryAfterMs('-1', now)).toBeUndefined();
  });
});

describe('retryDelayMs', () => {
  it('waits the longer of the backoff and Retry-After, Retry-After capped', () => {
    expect(retryDelayMs(500, undefined, 10_000)).toBe(500);
    expect(retryDelayMs(500, 2000, 10_000)).toBe(2000);
    expect(retryDelayMs(5000, 2000, 10_000)).toBe(5000);
    expect(retryDelayMs(500, 3_600_000, 10_000)).toBe(10_000);
  });
});
