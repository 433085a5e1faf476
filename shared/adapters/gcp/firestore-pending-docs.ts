import { AppError } from '../../errors';
import type { PendingUpdate } from '../../ports';
import { decodePendingRecord, encodePendingEntry, encodePendingRecord, withoutCovered } from '../pending-rules';
import { stringSize } from './firestore-snapshot-buckets';
import { corruptSnapshot } from './firestore-snapshot-errors';

/**
 * The pure half of the Firestore store's pending records (`SnapshotStore.recordPending`): a
 * recorded group is one document, `pendingGroups/<group>-<part>` with `entries` (the JSON of
 * `pending-rules`), `group`, `part`, `source` and `recordedAtMs`, unless its entries weigh more
 * than one document may: then it is cut into parts of bounded size. One JSON string, not a map
 * keyed by entity id, so a document costs one index entry (of the string's first 1,500 bytes)
 * rather than one per entity, and needs no indexing exemption.
 * https://cloud.google.com/firestore/docs/concepts/data-types
 */

/** The subcollection of a source's meta document that holds its pending records. */
export const PENDING_COLLECTION = 'pendingGroups';

/** Every field of a pending document but `entries`. */
const PENDING_FIXED_FIELDS = { source: 'source', group: 'group', part: 'part', recordedAtMs: 'recordedAtMs' } as const;
const ENTRIES_FIELD = 'entries';

/** One part of a group as it is written: its entries and their JSON. */
export interface PendingPart {
  readonly entries: readonly PendingUpdate[];
  readonly json: string;
  /** Firestore size of the JSON string (UTF-8 bytes + 1). */
  readonly bytes: number;
}

/** A pending document as it was read. */
export interface PendingDoc {
  readonly id: string;
  readonly group: string;
  readonly entries: readonly PendingUpdate[];
}

export interface PendingDocFields {
  readonly source: string;
  readonly group: string;
  readonly part: number;
  readonly recordedAtMs: number;
}

export function pendingDocId(group: string, part: number): string {
  return `${group}-${part}`;
}

export function pendingDocData(fields: PendingDocFields, json: string): Record<string, unknown> {
  return { ...fields, [ENTRIES_FIELD]: json };
}

/** The patch that replaces what is left of a document's entries. */
export function pendingEntriesPatch(json: string): Record<string, unknown> {
  return { [ENTRIES_FIELD]: json };
}

/**
 * What a pending document weighs besides its `entries` string, by Firestore's documented rules:
 * the name (each path segment as a string, + 16), the other fields, 32 bytes per document.
 * `pathSegments` should name the longest document id the store writes.
 * https://cloud.google.com/firestore/docs/storage-size#document-size
 */
export function pendingDocOverheadBytes(pathSegments: readonly string[], source: string, group: string): number {
  const name = pathSegments.reduce((sum, segment) => sum + stringSize(segment), 16);
  const fields =
    stringSize(PENDING_FIXED_FIELDS.source) +
    stringSize(source) +
    stringSize(PENDING_FIXED_FIELDS.group) +
    stringSize(group) +
    stringSize(PENDING_FIXED_FIELDS.part) +
    8 +
    stringSize(PENDING_FIXED_FIELDS.recordedAtMs) +
    8 +
    stringSize(ENTRIES_FIELD);
  return name + fields + 32;
}

/**
 * Cuts a group into parts whose JSON weighs at most `maxJsonBytes` (Firestore string size), in
 * order. Throws when a single entry cannot fit, which the store's per-entry bound rules out.
 */
export function packPendingParts(entries: readonly PendingUpdate[], maxJsonBytes: number): PendingPart[] {
  const parts: PendingPart[] = [];
  let current: PendingUpdate[] = [];
  let pieces: string[] = [];
  // `[` + `]` + the string's own +1.
  let bytes = 3;
  const flush = (): void => {
    if (current.length === 0) return;
    parts.push({ entries: current, json: `[${pieces.join(',')}]`, bytes });
    current = [];
    pieces = [];
    bytes = 3;
  };
  for (const entry of entries) {
    const piece = encodePendingEntry(entry);
    const pieceBytes = Buffer.byteLength(piece, 'utf8');
    if (3 + pieceBytes > maxJsonBytes) {
      throw new AppError(
        'SNAPSHOT.ENTRY_TOO_LARGE',
        `Snapshot store (Firestore): the pending entry of "${entry.entityId.slice(0, 80)}" takes ${pieceBytes} bytes; a pending document holds at most ${maxJsonBytes}`,
        { retryable: false },
      );
    }
    // +1 for the comma before every entry but the first.
    if (current.length > 0 && bytes + 1 + pieceBytes > maxJsonBytes) flush();
    bytes += pieceBytes + (current.length > 0 ? 1 : 0);
    current.push(entry);
    pieces.push(piece);
  }
  flush();
  return parts;
}

export function parsePendingDoc(id: string, data: Readonly<Record<string, unknown>>, where: string): PendingDoc {
  const group = data[PENDING_FIXED_FIELDS.group];
  if (typeof group !== 'string') throw corruptSnapshot(where, 'a pending record without a group');
  return { id, group, entries: decodePendingRecord(data[ENTRIES_FIELD], where) };
}

/** What to do with the stored pending documents once `covering` made some of their entries obsolete. */
export interface PendingPrune {
  /** Documents left without entries. */
  readonly deletes: readonly string[];
  /** Documents that keep some entries: their new JSON. */
  readonly rewrites: readonly { readonly id: string; readonly json: string }[];
}

/**
 * Plans the pruning of `docs`: a document whose entries are all covered is deleted, one partly
 * covered is rewritten with the rest as long as the rewrites fit in `rewriteBudgetBytes` (a
 * transaction has a size limit). A rewrite left out is harmless: the covered entries it keeps
 * are older than what was committed, and the poller resolves such stale entries later.
 */
export function planPendingPrune(
  docs: readonly PendingDoc[],
  covering: ReadonlyMap<string, number>,
  rewriteBudgetBytes: number,
): PendingPrune {
  const deletes: string[] = [];
  const rewrites: { id: string; json: string }[] = [];
  let budget = rewriteBudgetBytes;
  for (const doc of docs) {
    const kept = withoutCovered(doc.entries, covering);
    if (kept === undefined) continue;
    if (kept.length === 0) {
      deletes.push(doc.id);
      continue;
    }
    const json = encodePendingRecord(kept);
    const bytes = stringSize(json);
    if (bytes > budget) continue;
    budget -= bytes;
    rewrites.push({ id: doc.id, json });
  }
  return { deletes, rewrites };
}
