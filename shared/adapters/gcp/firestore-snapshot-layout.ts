import type { CollectionReference, DocumentReference, Query } from '@google-cloud/firestore';
import { createHash } from 'node:crypto';
import type { Clock, Lease } from '../../ports';
import { PENDING_COLLECTION } from './firestore-pending-docs';
import {
  bucketOverheadBytes,
  EntryField,
  MAX_BUCKET_DEPTH,
  ROOT_BUCKET_ID,
  type BucketLimits,
} from './firestore-snapshot-buckets';

/**
 * Where each document of a source lives, under `<collection>/<source>` (the meta document):
 * `snapshotBuckets/<bucket id>`, `sourceState/lease`, `sourceState/cursor` and
 * `pendingGroups/<group>-<part>`. Sources whose name is not a plain document id are stored under
 * `~<sha256 of the name>`.
 */

const BUCKETS_COLLECTION = 'snapshotBuckets';
const STATE_COLLECTION = 'sourceState';
const LEASE_DOC = 'lease';
const CURSOR_DOC = 'cursor';

/**
 * The map fields whose keys are entity ids or bucket ids. Nothing queries them, and indexed they
 * would cost an index entry per key on every write and run into Firestore's 40,000 index entries
 * per document, so terraform/ exempts them from indexing (`google_firestore_field`).
 */
export const UNINDEXED_SNAPSHOT_FIELDS = {
  /** Bucket documents, in their collection group. */
  bucketCollectionGroup: BUCKETS_COLLECTION,
  bucketFields: [EntryField.plain, EntryField.long],
  /** The meta document's bucket directory, in the configured collection. */
  metaField: 'buckets',
} as const;

/** Document ids safe to use as they are: Firestore forbids `/`, `.`, `..`, `__x__` and over 1,500 bytes. */
const PLAIN_DOC_ID = /^[A-Za-z0-9_-]{1,200}$/;
const RESERVED_ID = /^__[\s\S]*__$/;

/** The documents of one source, and the bucket limits their paths leave room for. */
export interface SourceLayout {
  readonly source: string;
  readonly meta: DocumentReference;
  readonly buckets: Query;
  readonly lease: DocumentReference;
  readonly cursor: DocumentReference;
  readonly limits: BucketLimits;
  bucket(id: string): DocumentReference;
  readonly pending: Query;
  pendingDoc(id: string): DocumentReference;
}

/**
 * What a write fenced by a source's lease works with: a commit, a pending record. `clock` decides
 * whether the lease is still held; `maxBucketBytes` bounds each entry and document.
 */
export interface FencedWrite {
  readonly lease: Lease;
  readonly layout: SourceLayout;
  readonly clock: Clock;
  readonly maxBucketBytes: number;
}

/** How full a bucket may get: `maxBucketBytes` is the whole document, its name included. */
export interface BucketSizing {
  readonly maxEntries: number;
  readonly maxBucketBytes: number;
}

export function sourceLayout(root: CollectionReference, source: string, sizing: BucketSizing): SourceLayout {
  const docId = PLAIN_DOC_ID.test(source) && !RESERVED_ID.test(source) ? source : `~${sha256Hex(source)}`;
  const meta = root.doc(docId);
  const buckets = meta.collection(BUCKETS_COLLECTION);
  const state = meta.collection(STATE_COLLECTION);
  const pending = meta.collection(PENDING_COLLECTION);
  // The deepest bucket id has the longest document name; size every bucket as if it were that one.
  const overhead = bucketOverheadBytes([...buckets.path.split('/'), ROOT_BUCKET_ID + '0'.repeat(MAX_BUCKET_DEPTH)]);
  return {
    source,
    meta,
    buckets,
    lease: state.doc(LEASE_DOC),
    cursor: state.doc(CURSOR_DOC),
    limits: { maxEntries: sizing.maxEntries, maxEntryBytes: sizing.maxBucketBytes - overhead },
    bucket: (id) => buckets.doc(id),
    pending,
    pendingDoc: (id) => pending.doc(id),
  };
}

function sha256Hex(s: string): string {
  return createHash('sha256').update(s, 'utf8').digest('hex');
}
