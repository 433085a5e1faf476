import { randomUUID } from 'node:crypto';
import { EventType, type PendingUpdate } from '../../ports';
import { assertLeaseHeld } from '../lease-rules';
import { lastPendingPerEntity, versionsById } from '../pending-rules';
import {
  packPendingParts,
  parsePendingDoc,
  pendingDocData,
  pendingDocId,
  pendingDocOverheadBytes,
  pendingEntriesPatch,
  planPendingPrune,
  type PendingDoc,
  type PendingPart,
} from './firestore-pending-docs';
import { checkEntries, encodeUpdate } from './firestore-snapshot-buckets';
import { parseLease } from './firestore-snapshot-leases';
import type { FencedWrite, SourceLayout } from './firestore-snapshot-layout';
import {
  PENDING_REWRITE_RESERVE_BYTES,
  TRANSACTION_BUDGET_BYTES,
  takeWithin,
  type CountingTransaction,
  type Transact,
} from './firestore-snapshot-transactions';

/**
 * The I/O half of pending groups (`SnapshotStore.recordPending`; the documents themselves are
 * described in `firestore-pending-docs.ts`): writing a group before it is published, reading what
 * is pending, and pruning what a commit or a newer group makes obsolete.
 */

/**
 * Refuses, before anything is written, the entries `commit` would refuse later: a group whose
 * entries could never be committed must not reach the bus. Then writes the group's documents,
 * as many per transaction as fit, each transaction fenced by the lease. That split is safe
 * because all of it is written before the group is published.
 */
export async function recordPendingGroup(
  transact: Transact,
  write: FencedWrite,
  pending: readonly PendingUpdate[],
): Promise<void> {
  const { lease, layout } = write;
  const entries = lastPendingPerEntity(pending);
  checkEntries(
    lease.source,
    entries.map((p) => encodeUpdate({ ...p, deleted: p.type === EventType.deleted })),
    write.maxBucketBytes,
  );
  const group = randomUUID();
  const overhead = pendingDocOverheadBytes(
    layout.pendingDoc(pendingDocId(group, 999_999)).path.split('/'),
    lease.source,
    group,
  );
  let rest = packPendingParts(entries, write.maxBucketBytes - overhead);
  let part = 0;
  do {
    const parts = takeWithin(rest, TRANSACTION_BUDGET_BYTES - PENDING_REWRITE_RESERVE_BYTES, (p) => p.bytes);
    await transact((tx) => recordPendingRound(tx, write, { group, part, parts }));
    part += parts.length;
    rest = rest.slice(parts.length);
  } while (rest.length > 0);
}

/**
 * Writes parts of a pending group after the lease check, and prunes the entries they make
 * obsolete from older groups' documents (a bus that refuses every cycle would otherwise leave
 * one more group per cycle).
 */
async function recordPendingRound(
  tx: CountingTransaction,
  { lease, layout, clock }: FencedWrite,
  round: { readonly group: string; readonly part: number; readonly parts: readonly PendingPart[] },
): Promise<void> {
  const [leaseSnap] = await tx.getAll(layout.lease);
  const nowMs = clock.now().getTime();
  assertLeaseHeld(lease, parseLease(leaseSnap, layout), nowMs);
  const older = (await readPendingDocs(tx, layout)).filter((doc) => doc.group !== round.group);
  round.parts.forEach((p, i) => {
    const fields = { source: layout.source, group: round.group, part: round.part + i, recordedAtMs: nowMs };
    tx.set(layout.pendingDoc(pendingDocId(round.group, fields.part)), pendingDocData(fields, p.json));
  });
  prunePending(tx, layout, older, versionsById(round.parts.flatMap((p) => p.entries)));
}

/** Every pending document of the source: one query, usually of one document or none. */
export async function readPendingDocs(tx: CountingTransaction, layout: SourceLayout): Promise<PendingDoc[]> {
  return (await tx.query(layout.pending)).map((doc) => parsePendingDoc(doc.id, doc.data() ?? {}, doc.ref.path));
}

/** Deletes or rewrites, in `tx`, the pending documents whose entries `covering` makes obsolete. */
export function prunePending(
  tx: CountingTransaction,
  layout: SourceLayout,
  docs: readonly PendingDoc[],
  covering: ReadonlyMap<string, number>,
): void {
  if (docs.length === 0) return;
  const plan = planPendingPrune(docs, covering, PENDING_REWRITE_RESERVE_BYTES);
  for (const id of plan.deletes) tx.delete(layout.pendingDoc(id));
  for (const { id, json } of plan.rewrites) tx.set(layout.pendingDoc(id), pendingEntriesPatch(json), { merge: true });
}
