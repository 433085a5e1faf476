import { AppError } from '@changefeed/shared/errors';
import type {
  Clock,
  EventPublisher,
  Lease,
  OutboundMessage,
  PendingEntry,
  PendingUpdate,
  PublishOutcome,
  SnapshotEntry,
  SnapshotState,
  SnapshotStore,
  SnapshotUpdate,
} from '@changefeed/shared/ports';

/** An in-memory snapshot store with the port's lease semantics, for use-case tests. */
export class MemorySnapshotStore implements SnapshotStore {
  readonly entries = new Map<string, Map<string, SnapshotEntry>>();
  readonly initialized = new Set<string>();
  readonly leases = new Map<string, Lease>();
  readonly cursors = new Map<string, string>();
  /**
   * Per source and entity, the highest-version pending entry not yet covered. The SQL and
   * Firestore stores keep one record per `recordPending` call; what `load` shows is the same.
   */
  readonly pending = new Map<string, Map<string, PendingEntry>>();
  readonly commits: { source: string; updates: SnapshotUpdate[] }[] = [];
  readonly pendingRecords: { source: string; pending: PendingUpdate[] }[] = [];
  /** When set, the next commit rejects with this error and writes nothing. */
  failNextCommit: Error | undefined;

  constructor(private readonly clock: Clock) {}

  load(source: string): Promise<SnapshotState> {
    return Promise.resolve({
      initialized: this.initialized.has(source),
      entries: new Map(this.entries.get(source) ?? []),
      pending: new Map(this.pending.get(source) ?? []),
    });
  }

  recordPending(lease: Lease, pending: readonly PendingUpdate[]): Promise<void> {
    if (!this.holds(lease)) return Promise.reject(new AppError('SNAPSHOT.LEASE_LOST', 'lease lost'));
    const map = this.pending.get(lease.source) ?? new Map<string, PendingEntry>();
    // The last entry of an entity in one call wins; across calls the highest version does.
    const lastPerEntity = new Map(pending.map((p) => [p.entityId, p]));
    for (const { entityId, type, hash, version } of lastPerEntity.values()) {
      if ((map.get(entityId)?.version ?? 0) <= version) map.set(entityId, { type, hash, version });
    }
    this.pending.set(lease.source, map);
    this.pendingRecords.push({ source: lease.source, pending: [...pending] });
    return Promise.resolve();
  }

  commit(lease: Lease, updates: readonly SnapshotUpdate[]): Promise<void> {
    if (this.failNextCommit !== undefined) {
      const e = this.failNextCommit;
      this.failNextCommit = undefined;
      return Promise.reject(e);
    }
    if (!this.holds(lease)) return Promise.reject(new AppError('SNAPSHOT.LEASE_LOST', 'lease lost'));
    const map = this.entries.get(lease.source) ?? new Map<string, SnapshotEntry>();
    const pending = this.pending.get(lease.source);
    for (const u of updates) {
      map.set(u.entityId, { hash: u.hash, version: u.version, deleted: u.deleted });
      if ((pending?.get(u.entityId)?.version ?? Infinity) <= u.version) pending?.delete(u.entityId);
    }
    this.entries.set(lease.source, map);
    this.initialized.add(lease.source);
    this.commits.push({ source: lease.source, updates: [...updates] });
    return Promise.resolve();
  }

  private holds(lease: Lease): boolean {
    const held = this.leases.get(lease.source);
    return held?.holder === lease.holder && held.expiresAt.getTime() > this.clock.now().getTime();
  }

  acquireLease(source: string, holder: string, ttlMs: number): Promise<Lease | null> {
    const held = this.leases.get(source);
    const now = this.clock.now().getTime();
    if (held !== undefined && held.holder !== holder && held.expiresAt.getTime() > now) return Promise.resolve(null);
    const lease = { source, holder, expiresAt: new Date(now + ttlMs) };
    this.leases.set(source, lease);
    return Promise.resolve(lease);
  }

  renewLease(lease: Lease, ttlMs: number): Promise<Lease | null> {
    const held = this.leases.get(lease.source);
    const now = this.clock.now().getTime();
    if (held?.holder !== lease.holder) return Promise.resolve(null);
    const renewed = { ...lease, expiresAt: new Date(now + ttlMs) };
    this.leases.set(lease.source, renewed);
    return Promise.resolve(renewed);
  }

  releaseLease(lease: Lease): Promise<void> {
    if (this.leases.get(lease.source)?.holder === lease.holder) this.leases.delete(lease.source);
    return Promise.resolve();
  }

  getCursor(source: string): Promise<string | undefined> {
    return Promise.resolve(this.cursors.get(source));
  }

  setCursor(source: string, cursor: string): Promise<void> {
    this.cursors.set(source, cursor);
    return Promise.resolve();
  }

  close(): Promise<void> {
    return Promise.resolve();
  }
}

/** Records what was published; can refuse chosen messages, like a failed ordering key. */
export class FakeEventPublisher implements EventPublisher {
  readonly published: OutboundMessage[] = [];
  /** Messages whose ordering key is in this set are refused. */
  readonly refuseKeys = new Set<string>();
  private nextId = 1;

  publish(messages: readonly OutboundMessage[]): Promise<PublishOutcome[]> {
    return Promise.resolve(
      messages.map((m): PublishOutcome => {
        if (this.refuseKeys.has(m.orderingKey)) {
          return { id: m.id, ok: false, error: new Error(`ordering key ${m.orderingKey} is paused`) };
        }
        this.published.push(m);
        return { id: m.id, ok: true, messageId: String(this.nextId++) };
      }),
    );
  }

  close(): Promise<void> {
    return Promise.resolve();
  }

  /** `type entityId vN` of every published message, for readable assertions. */
  summary(): string[] {
    return this.published.map(
      (m) =>
        `${(m.attributes['ce-type'] ?? '').split('.').pop() ?? ''} ${m.attributes['ce-subject'] ?? ''} v${m.attributes['ce-cfversion'] ?? ''}`,
    );
  }
}
