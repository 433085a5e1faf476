import type { DocumentReference, DocumentSnapshot, Firestore, Query, Transaction } from '@google-cloud/firestore';

/**
 * How the Firestore snapshot store talks to Firestore: transactions that count what they read and
 * write (the emulator bills nothing, so the store counts), and how much one transaction may carry.
 */

/** What this store has asked of Firestore since it was built; the emulator bills nothing, so count here. */
export interface FirestoreSnapshotStoreStats {
  /** Document snapshots returned: one per document looked up (found or not) and one per query result. */
  readonly documentReads: number;
  /** Document writes (sets, patches and deletes) in committed transactions. */
  readonly documentWrites: number;
  /** Transactions committed, read-only ones included. */
  readonly transactions: number;
  /** Buckets cut in two (or more) because they were full. */
  readonly bucketSplits: number;
}

/** The store's running totals, which its parts add to. */
export type StoreCounters = { -readonly [K in keyof FirestoreSnapshotStoreStats]: number };

/**
 * What one transaction may write, estimated. Production accepts 10 MiB per request (the old limit
 * of 500 writes per transaction is gone), but the emulator refuses gRPC messages over 4 MiB (it
 * answers RESOURCE_EXHAUSTED, which the client then retries for minutes). 3 MiB fits both:
 * ~9,000 updates with UUID ids, ~3,500 with 200-character ids per transaction.
 * https://cloud.google.com/firestore/quotas#writes_and_transactions
 */
export const TRANSACTION_BUDGET_BYTES = 3 * 1024 * 1024;

/**
 * Room kept in a transaction for rewriting the pending documents it makes partly obsolete (see
 * `planPendingPrune`). A source has about one group of them, so this is rarely even approached.
 */
export const PENDING_REWRITE_RESERVE_BYTES = 1024 * 1024;

/** A transaction that counts what it reads and writes. */
export class CountingTransaction {
  writes = 0;
  splits = 0;

  constructor(
    private readonly tx: Transaction,
    private readonly counters: { documentReads: number },
  ) {}

  async getAll(...refs: DocumentReference[]): Promise<DocumentSnapshot[]> {
    const snaps = await this.tx.getAll(...refs);
    this.counters.documentReads += snaps.length;
    return snaps;
  }

  async query(query: Query): Promise<DocumentSnapshot[]> {
    const { docs } = await this.tx.get(query);
    this.counters.documentReads += docs.length;
    return docs;
  }

  set(ref: DocumentReference, data: Record<string, unknown>, options?: { merge: true }): void {
    if (options === undefined) this.tx.set(ref, data);
    else this.tx.set(ref, data, options);
    this.writes += 1;
  }

  delete(ref: DocumentReference): void {
    this.tx.delete(ref);
    this.writes += 1;
  }
}

/** Runs one unit of work in its own transaction; the store supplies it with its guard around it. */
export type Transact = <T>(work: (tx: CountingTransaction) => Promise<T>) => Promise<T>;

/**
 * Runs `work` in a Firestore transaction (retried by the client on contention). Reads are counted
 * as they happen, writes only for the attempt that committed.
 * https://cloud.google.com/firestore/docs/manage-data/transactions
 */
export async function runCountedTransaction<T>(
  firestore: Firestore,
  counters: StoreCounters,
  work: (tx: CountingTransaction) => Promise<T>,
  options: { readOnly?: boolean } = {},
): Promise<T> {
  let last: CountingTransaction | undefined;
  const result = await firestore.runTransaction(async (transaction) => {
    last = new CountingTransaction(transaction, counters);
    return work(last);
  }, options);
  counters.transactions += 1;
  counters.documentWrites += last?.writes ?? 0;
  counters.bucketSplits += last?.splits ?? 0;
  return result;
}

/** The longest prefix of `rest` whose writes fit in `budget` bytes (at least one item). */
export function takeWithin<T>(rest: readonly T[], budget: number, costOf: (item: T) => number): readonly T[] {
  let used = 0;
  let n = 0;
  while (n < rest.length) {
    const item = rest[n];
    const cost = item === undefined ? 0 : costOf(item);
    if (n > 0 && used + cost > budget) break;
    used += cost;
    n += 1;
  }
  return n === rest.length ? rest : rest.slice(0, n);
}
