import type { DocumentSnapshot } from '@google-cloud/firestore';
import { AppError } from '../../errors';
import { BucketDirectory, ROOT_BUCKET_ID, type BucketLoad } from './firestore-snapshot-buckets';
import { corruptSnapshot } from './firestore-snapshot-errors';
import { UNINDEXED_SNAPSHOT_FIELDS, type SourceLayout } from './firestore-snapshot-layout';

/**
 * A source's meta document: `initialized`, `schema`, and `buckets: { <bucket id>: [entries, bytes] }`,
 * an upper bound of each bucket's load, whose keys are the bucket directory.
 */

/** Bumped with every layout change; a store refuses sources written by a newer one. */
const SCHEMA_VERSION = 1;

export interface SourceMeta {
  readonly exists: boolean;
  readonly initialized: boolean;
  readonly directory: BucketDirectory;
  readonly loads: ReadonlyMap<string, BucketLoad>;
}

/** The estimated load of bucket `id`; a bucket not yet in the meta document holds nothing. */
export function loadIn(meta: SourceMeta, id: string): BucketLoad {
  return meta.loads.get(id) ?? { count: 0, bytes: 0 };
}

/** A merge patch of the meta document: always stamps the source and the schema version. */
export function metaPatch(layout: SourceLayout, fields: Record<string, unknown>): Record<string, unknown> {
  const patch: Record<string, unknown> = { source: layout.source, schema: SCHEMA_VERSION, ...fields };
  // `buckets: {}` under merge would replace the whole map with an empty one.
  const buckets = patch[UNINDEXED_SNAPSHOT_FIELDS.metaField];
  if (typeof buckets === 'object' && buckets !== null && Object.keys(buckets).length === 0) {
    delete patch[UNINDEXED_SNAPSHOT_FIELDS.metaField];
  }
  return patch;
}

/** A missing meta document is a source never committed: one empty root bucket. */
export function parseMeta(snap: DocumentSnapshot | undefined, layout: SourceLayout): SourceMeta {
  if (snap?.exists !== true) {
    return { exists: false, initialized: false, directory: new BucketDirectory([ROOT_BUCKET_ID]), loads: new Map() };
  }
  const where = layout.meta.path;
  const schema: unknown = snap.get('schema');
  if (typeof schema === 'number' && schema > SCHEMA_VERSION) {
    throw new AppError(
      'SNAPSHOT.SCHEMA_TOO_NEW',
      `The snapshot of "${layout.source}" at ${where} has schema version ${schema}; this changefeed knows up to ${SCHEMA_VERSION}. Upgrade changefeed.`,
      { retryable: false },
    );
  }
  const raw: unknown = snap.get(UNINDEXED_SNAPSHOT_FIELDS.metaField) ?? { [ROOT_BUCKET_ID]: [0, 0] };
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw))
    throw corruptSnapshot(where, 'a buckets field that is not a map');
  const loads = new Map<string, BucketLoad>();
  for (const [id, value] of Object.entries(raw)) {
    const [count, bytes] = Array.isArray(value) ? (value as unknown[]) : [];
    if (!/^b[01]*$/.test(id) || typeof count !== 'number' || typeof bytes !== 'number') {
      throw corruptSnapshot(where, `a malformed bucket entry "${id}"`);
    }
    loads.set(id, { count, bytes });
  }
  return {
    exists: true,
    initialized: snap.get('initialized') === true,
    directory: new BucketDirectory(loads.keys()),
    loads,
  };
}
