import type { PendingEntry, SnapshotEntry } from '../ports';
import { DiffBuilder, type CurrentRecord, type DetectedChange } from './diff-snapshot';
import { reconcilePending, type ReconciledDiff } from './pending-changes';
import { RecordKeyer, unkeyedCount, type SkippedCounts } from './prepare-records';
import { hashRecord } from './record-hash';

/**
 * A poll's diff against the snapshot, computed page by page as the source client delivers them.
 *
 * Why not collect every page first: a poll of 100,000 records would hold all of them, parsed, until
 * the diff, although a cycle usually changes a few percent. Here each record is keyed, hashed and
 * compared as soon as its page arrives, and only changed records (and those of entities with a
 * pending event) are kept; the rest become garbage with their page. Hashing also overlaps the wait
 * for the next page.
 *
 * Why groups can leave before the last page (`takeGroups`): a creation or an update is true as
 * soon as its page says so, so it can be published at once, and a cold start holds one group of
 * records instead of every record of the API. Two kinds of change wait for `finish`: deletions,
 * which are only known once every page was seen (a poll that fails part-way emits none), and the
 * changes of entities with a pending event, whose reconciliation may turn on the entity being
 * absent from the whole poll. What `takeGroups` and `finish` give together is exactly what
 * `diffSnapshot` + `reconcilePending` give on the whole poll.
 */
export class SnapshotDiffer {
  private readonly keyer: RecordKeyer;
  private readonly builder: DiffBuilder;
  /** The current records of entities with a pending event, which reconciling needs. */
  private readonly pendingCurrent = new Map<string, CurrentRecord>();
  /** Taken from the builder, not yet a full group. */
  private ready: DetectedChange[] = [];
  /** Changes of entities with a pending event, reconciled at `finish`. */
  private readonly held: DetectedChange[] = [];
  private busyNs = 0n;

  constructor(
    private readonly snapshot: ReadonlyMap<string, SnapshotEntry>,
    private readonly pending: ReadonlyMap<string, PendingEntry>,
    idField: string,
  ) {
    this.keyer = new RecordKeyer(idField);
    this.builder = new DiffBuilder(snapshot);
  }

  addPage(records: readonly unknown[]): void {
    const start = process.hrtime.bigint();
    for (const record of records) {
      const entityId = this.keyer.key(record);
      if (entityId === undefined) continue;
      const hash = hashRecord(record);
      this.builder.add(entityId, record, hash);
      if (this.pending.has(entityId)) this.pendingCurrent.set(entityId, { record, hash });
    }
    this.busyNs += process.hrtime.bigint() - start;
  }

  /**
   * Full groups of `size` creations and updates found so far that can be published now (their
   * entities have no pending event), in the API's order; what does not fill a group stays for
   * the next call or `finish`.
   */
  takeGroups(size: number): DetectedChange[][] {
    for (const change of this.builder.takeChanges()) {
      (this.pending.has(change.entityId) ? this.held : this.ready).push(change);
    }
    const groups: DetectedChange[][] = [];
    let at = 0;
    for (; this.ready.length - at >= size; at += size) groups.push(this.ready.slice(at, at + size));
    if (at > 0) this.ready = this.ready.slice(at);
    return groups;
  }

  /**
   * Everything not taken by `takeGroups`, deletions included, corrected for pending events; the
   * counts are those of the whole poll. Call once, after the last page.
   *
   * A poll that received a record it could not key (see `unkeyedCount`) emits no deletion: any
   * entity it did not see may be that record, and deleting it would only re-create it next cycle
   * (with a `deleted` row in the warehouse's history that never happened). Its creations and
   * updates are true all the same; `deletionsSuppressed` counts the deletions it did not emit.
   */
  finish(): ReconciledDiff {
    const start = process.hrtime.bigint();
    const options = { deletions: unkeyedCount(this.keyer.skipped) === 0 };
    const rest = this.builder.finish((entityId) => this.keyer.has(entityId), options);
    const plain = { ...rest, changes: [...this.ready, ...this.held, ...rest.changes] };
    this.ready = [];
    const diff = reconcilePending(plain, this.pendingCurrent, this.snapshot, this.pending, options);
    this.busyNs += process.hrtime.bigint() - start;
    return diff;
  }

  /** Records added, skipped ones included. */
  get records(): number {
    return this.keyer.count;
  }

  get skipped(): SkippedCounts {
    return this.keyer.skipped;
  }

  get firstSkippedAt(): readonly number[] {
    return this.keyer.firstSkippedAt;
  }

  /** Time spent keying, hashing and comparing, in ms: the part of a poll that is this class's. */
  get busyMs(): number {
    return Number(this.busyNs) / 1e6;
  }
}
