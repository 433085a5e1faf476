import { RateLimiter } from '@changefeed/shared/source';
import { FakeClock } from '../../support/source-fakes';

describe('RateLimiter', () => {
  it('lets the first request through and spaces the next ones by 1/rate', async () => {
    const clock = new FakeClock();
    const limiter = new RateLimiter(4, clock);
    const waits = [await limiter.take(), await limiter.take(), await limiter.take()];
    expect(waits).toEqual([0, 250, 250]);
    expect(clock.sleeps).toEqual([250, 250]);
  });

  it('does not wait when requests are already slower than the rate', async () => {
    const clock = new FakeClock();
    const limiter = new RateLimiter(2, clock);
    await limiter.take();
    clock.advance(600);
    expect(await limiter.take()).toBe(0);
    clock.advance(100);
    expect(await limiter.take()).toBe(400);
  });

  it('reserves distinct slots for concurrent callers', async () => {
    const clock = new FakeClock();
    const limiter = new RateLimiter(10, clock);
    const start = clock.now().getTime();
    await Promise.all([limiter.take(), limiter.take(), limiter.take()]);
    // The fake clock moves time on each sleep, so the third caller's slot shows as the end time.
    expect(clock.now().getTime() - start).toBe(200);
    expect(clock.sleeps).toEqual([100, 100]);
  });

  it('allows a burst when asked', async () => {
    const clock = new FakeClock();
    const limiter = new RateLimiter(1, clock, 2);
    expect([await limiter.take(), await limiter.take(), await limiter.take()]).toEqual([0, 0, 1000]);
  });

  it('rejects a rate that is not positive', () => {
    expect(() => new RateLimiter(0, new FakeClock())).toThrow('rate limit must be > 0, got 0');
  });
});
