import { FieldValue } from '@google-cloud/firestore';
import type { SnapshotUpdate } from '../../ports';
import { assertLeaseHeld } from '../lease-rules';
import { versionsById } from '../pending-rules';
import { prunePending, readPendingDocs } from './firestore-pending-writes';
import {
  addLoads,
  bucketData,
  checkEntries,
  encodeEntry,
  encodeUpdate,
  fits,
  forEachEntry,
  loadOf,
  planBucket,
  ROOT_BUCKET_ID,
  type StoredEntry,
} from './firestore-snapshot-buckets';
import { parseLease } from './firestore-snapshot-leases';
import type { FencedWrite } from './firestore-snapshot-layout';
import { loadIn, metaPatch, parseMeta, type SourceMeta } from './firestore-snapshot-meta';
import {
  PENDING_REWRITE_RESERVE_BYTES,
  TRANSACTION_BUDGET_BYTES,
  takeWithin,
  type CountingTransaction,
  type Transact,
} from './firestore-snapshot-transactions';

/**
 * `SnapshotStore.commit` on the bucketed index: updates applied in transaction-sized rounds, each
 * fenced by the lease, and full buckets cut in two first (see `FirestoreSnapshotStore` for the
 * layout and `firestore-snapshot-buckets.ts` for the arithmetic).
 */

/** Room kept in each transaction for the meta document's patch. */
const META_PATCH_RESERVE_BYTES = 256 * 1024;

/** A bucket whose estimated load, with the pending updates added, may not fit. */
interface Overflow {
  readonly id: string;
  readonly pending: readonly StoredEntry[];
}

export async function commitUpdates(
  transact: Transact,
  write: FencedWrite,
  updates: readonly SnapshotUpdate[],
): Promise<void> {
  // The last update of an entity wins, as in an upsert.
  const byId = new Map<string, StoredEntry>();
  for (const u of updates) byId.set(u.entityId, encodeUpdate(u));
  checkEntries(write.lease.source, byId.values(), write.maxBucketBytes);
  let rest = [...byId.values()];
  // Each round applies a chunk of updates or cuts at least one bucket, and every cut bucket ends
  // up no fuller than its share of the chunk allows; the cap only guards against a bug looping.
  const maxRounds = 100 + 2 * rest.length;
  for (let round = 0; round < maxRounds; round++) {
    const applied = await transact((tx) => commitRound(tx, write, rest));
    rest = rest.slice(applied);
    if (rest.length === 0) return;
  }
  throw new Error(`no progress after ${maxRounds} transactions`);
}

/**
 * One round of a commit: applies the next transaction-sized chunk of `rest` and returns how many
 * updates it applied, or cuts the buckets the chunk would overfill and returns 0.
 */
async function commitRound(tx: CountingTransaction, write: FencedWrite, rest: readonly StoredEntry[]): Promise<number> {
  const { lease, layout } = write;
  const [leaseSnap, metaSnap] = await tx.getAll(layout.lease, layout.meta);
  assertLeaseHeld(lease, parseLease(leaseSnap, layout), write.clock.now().getTime());
  const meta = parseMeta(metaSnap, layout);
  const pending = await readPendingDocs(tx, layout);

  const reserve = pending.length > 0 ? PENDING_REWRITE_RESERVE_BYTES : 0;
  const chunk = takeWithin(rest, TRANSACTION_BUDGET_BYTES - META_PATCH_RESERVE_BYTES - reserve, (e) => e.requestBytes);
  const groups = new Map<string, StoredEntry[]>();
  for (const e of chunk) {
    const id = meta.directory.bucketOf(e.bits);
    const group = groups.get(id);
    if (group === undefined) groups.set(id, [e]);
    else group.push(e);
  }
  const overflows: Overflow[] = [];
  for (const [id, pending] of groups) {
    if (!fits(addLoads(loadIn(meta, id), loadOf(pending)), layout.limits)) overflows.push({ id, pending });
  }
  if (overflows.length > 0) {
    await cutBuckets(tx, write, meta, overflows);
    return 0;
  }

  const loads: Record<string, [number, number]> = {};
  if (!meta.exists) loads[ROOT_BUCKET_ID] = [0, 0];
  for (const [id, pending] of groups) {
    tx.set(layout.bucket(id), bucketData(pending), { merge: true });
    const load = addLoads(loadIn(meta, id), loadOf(pending));
    loads[id] = [load.count, load.bytes];
  }
  tx.set(layout.meta, metaPatch(layout, { initialized: true, buckets: loads }), { merge: true });
  // Only what this transaction commits: a later round may never land if the lease is lost.
  prunePending(
    tx,
    layout,
    pending,
    versionsById(chunk.map((e) => ({ entityId: e.entityId, version: e.entry.version }))),
  );
  return chunk.length;
}

/**
 * Reads overflowing buckets (as many as one transaction can rewrite) and settles or cuts each.
 * Moves entries between documents without changing any, so it needs no atomicity with the
 * updates that made it necessary.
 */
async function cutBuckets(
  tx: CountingTransaction,
  { layout, maxBucketBytes }: FencedWrite,
  meta: SourceMeta,
  overflows: readonly Overflow[],
): Promise<void> {
  const chosen: Overflow[] = [];
  let budget = TRANSACTION_BUDGET_BYTES - META_PATCH_RESERVE_BYTES;
  for (const overflow of overflows) {
    const bytes = loadIn(meta, overflow.id).bytes + maxBucketBytes - layout.limits.maxEntryBytes;
    if (chosen.length > 0 && bytes > budget) break;
    chosen.push(overflow);
    budget -= bytes;
  }
  const snaps = await tx.getAll(...chosen.map((o) => layout.bucket(o.id)));
  const loads: Record<string, [number, number] | FieldValue> = {};
  chosen.forEach(({ id, pending }, i) => {
    const snap = snaps[i];
    const current: StoredEntry[] = [];
    if (snap?.exists === true) {
      forEachEntry(snap.data() ?? {}, snap.ref.path, (entityId, entry) => current.push(encodeEntry(entityId, entry)));
    }
    const pieces = planBucket(id, current, pending, layout.limits);
    const only = pieces[0];
    if (pieces.length === 1 && only !== undefined && only.id === id) {
      loads[id] = [only.load.count, only.load.bytes];
      return;
    }
    tx.delete(layout.bucket(id));
    loads[id] = FieldValue.delete();
    for (const piece of pieces) {
      // Children are new prefixes, so no document exists there yet; an empty one needs none.
      if (piece.entries.length > 0) tx.set(layout.bucket(piece.id), bucketData(piece.entries));
      loads[piece.id] = [piece.load.count, piece.load.bytes];
    }
    tx.splits += 1;
  });
  tx.set(layout.meta, metaPatch(layout, { buckets: loads }), { merge: true });
}
