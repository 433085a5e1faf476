import { AppError } from '../errors';
import type { Lease } from '../ports';

/** A stored lease as every snapshot store reads it back. */
export interface HeldLease {
  readonly holder: string;
  readonly expiresAtMs: number;
}

/**
 * The one rule every SnapshotStore fences commits with: the lease must still be held by the same
 * holder and not have expired. Throws SNAPSHOT.LEASE_LOST saying why, so operators can tell a
 * released lease from a takeover or an expiry.
 */
export function assertLeaseHeld(lease: Lease, current: HeldLease | undefined, nowMs: number): void {
  if (current !== undefined && current.holder === lease.holder && current.expiresAtMs > nowMs) return;
  const why =
    current === undefined
      ? 'it was released'
      : current.holder !== lease.holder
        ? `"${current.holder}" holds it now`
        : `it expired at ${new Date(current.expiresAtMs).toISOString()}`;
  throw new AppError(
    'SNAPSHOT.LEASE_LOST',
    `The lease of "${lease.source}" held by "${lease.holder}" is lost (${why}); nothing was committed`,
    { retryable: false, details: { source: lease.source, holder: lease.holder, now: new Date(nowMs).toISOString() } },
  );
}

/** A lease TTL in whole milliseconds; anything not positive is a programming error. */
export function positiveTtl(ttlMs: number): number {
  if (!Number.isFinite(ttlMs) || ttlMs <= 0) {
    throw new AppError('SNAPSHOT.INVALID_TTL', `A lease TTL must be a positive number of milliseconds, got ${ttlMs}`, {
      retryable: false,
    });
  }
  return Math.ceil(ttlMs);
}
