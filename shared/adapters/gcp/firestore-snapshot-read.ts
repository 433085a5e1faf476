import type { SnapshotEntry, SnapshotState } from '../../ports';
import { mergePendingRecords } from '../pending-rules';
import { readPendingDocs } from './firestore-pending-writes';
import { forEachEntry } from './firestore-snapshot-buckets';
import type { SourceLayout } from './firestore-snapshot-layout';
import { parseMeta } from './firestore-snapshot-meta';
import type { CountingTransaction } from './firestore-snapshot-transactions';

/**
 * `SnapshotStore.load`: the meta document, every bucket it names and the pending documents, in
 * one (read-only) transaction: 1 + B + P reads.
 */
export async function readSnapshot(tx: CountingTransaction, layout: SourceLayout): Promise<SnapshotState> {
  const [metaSnap] = await tx.getAll(layout.meta);
  const meta = parseMeta(metaSnap, layout);
  // A crash during a cold start's first group leaves pending documents and no meta document.
  const pending = mergePendingRecords((await readPendingDocs(tx, layout)).map((doc) => doc.entries));
  const entries = new Map<string, SnapshotEntry>();
  if (!meta.exists) return { initialized: false, entries, pending };
  for (const doc of await tx.query(layout.buckets)) {
    // Only the buckets the meta document names; a split removes its parent in the same transaction.
    if (!meta.directory.has(doc.id)) continue;
    forEachEntry(doc.data() ?? {}, doc.ref.path, (entityId, entry) => entries.set(entityId, entry));
  }
  return { initialized: meta.initialized, entries, pending };
}
