import type { Firestore } from '@google-cloud/firestore';
import { corruptSnapshot } from './firestore-snapshot-errors';
import type { SourceLayout } from './firestore-snapshot-layout';
import type { StoreCounters } from './firestore-snapshot-transactions';

/**
 * A batch source's watermark (`CursorStore`), `sourceState/cursor` (`source`, `cursor`): one plain
 * document read or write, outside any transaction and not fenced by the lease: batch runs take
 * no lease, and the last run's watermark wins.
 */

export async function readCursor(
  firestore: Firestore,
  layout: SourceLayout,
  counters: StoreCounters,
): Promise<string | undefined> {
  const [snap] = await firestore.getAll(layout.cursor);
  counters.documentReads += 1;
  if (snap?.exists !== true) return undefined;
  const cursor: unknown = snap.get('cursor');
  if (typeof cursor !== 'string') throw corruptSnapshot(layout.cursor.path, 'a cursor that is not a string');
  return cursor;
}

export async function writeCursor(layout: SourceLayout, cursor: string, counters: StoreCounters): Promise<void> {
  await layout.cursor.set({ source: layout.source, cursor });
  counters.documentWrites += 1;
}
