import { AppError } from '@changefeed/shared/errors';
import type { Lease, SnapshotStore } from '@changefeed/shared/ports';

export const LEASE_LOST = 'SNAPSHOT.LEASE_LOST';

/**
 * The lease a poller holds on one source, renewed before every snapshot commit so a long cycle
 * (a cold start of a large API) does not outlive it. Losing it means another poller took the
 * source over: this one must stop writing at once.
 */
export class SourceLease {
  private lease: Lease;

  constructor(
    private readonly store: Pick<SnapshotStore, 'renewLease' | 'releaseLease'>,
    lease: Lease,
    private readonly ttlMs: number,
  ) {
    this.lease = lease;
  }

  get current(): Lease {
    return this.lease;
  }

  /** Extends the lease; throws SNAPSHOT.LEASE_LOST when another holder has it now. */
  async renew(): Promise<Lease> {
    const renewed = await this.store.renewLease(this.lease, this.ttlMs);
    if (renewed === null) {
      throw new AppError(
        LEASE_LOST,
        `lease on source "${this.lease.source}" was lost by ${this.lease.holder}: another poller owns it now`,
        { retryable: false, details: { source: this.lease.source, holder: this.lease.holder } },
      );
    }
    this.lease = renewed;
    return renewed;
  }

  release(): Promise<void> {
    return this.store.releaseLease(this.lease);
  }
}
