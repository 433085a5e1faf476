import type { PendingEntry, SnapshotEntry } from '../ports';
import { DiffBuilder, type CurrentRecord } from './diff-snapshot';
import { reconcilePending, type ReconciledDiff } from './pending-changes';
import { RecordKeyer, type SkippedCounts } from './prepare-records';
import { hashRecord } from './record-hash';

/**
 * A poll's diff against the snapshot, computed page by page as the source client delivers them.
 *
 * Why not collect every page first: a poll of 100,000 records would hold all of them, parsed, until
 * the diff, although a cycle usually changes a few percent. Here each record is keyed, hashed and
 * compared as soon as its page arrives, and only changed records (and those of entities with a
 * pending event) are kept; the rest become garbage with their page. Hashing also overlaps the wait
 * for the next page. The result is the one `diffSnapshot` + `reconcilePending` give on the whole
 * poll: deletions are only known, and only emitted, once the last page was added (`finish`), so a
 * poll that fails part-way still emits nothing.
 */
export class SnapshotDiffer {
  private readonly keyer: RecordKeyer;
  private readonly builder: DiffBuilder;
  /** The current records of entities with a pending event, which reconciling needs. */
  private readonly pendingCurrent = new Map<string, CurrentRecord>();
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

  /** The diff of everything added, deletions included, corrected for pending events. Call once, after the last page. */
  finish(): ReconciledDiff {
    const start = process.hrtime.bigint();
    const plain = this.builder.finish((entityId) => this.keyer.has(entityId));
    const diff = reconcilePending(plain, this.pendingCurrent, this.snapshot, this.pending);
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
