import { createHash } from 'node:crypto';
import { AppError } from '../../errors';
import type { SnapshotEntry, SnapshotUpdate } from '../../ports';
import { corruptSnapshot, entryTooLarge, invalidEntryHash } from './firestore-snapshot-errors';

/**
 * The pure half of `FirestoreSnapshotStore`: how an entry is encoded in a bucket document, which
 * bucket an entity id belongs to, what a bucket weighs in Firestore's own size units, and how an
 * overfull bucket is cut in two. No I/O, so the numbers can be checked with plain values.
 */

/** Bucket ids are `b` followed by the bits of the hash prefix they own: `b`, `b0`, `b1`, `b01`, ... */
export const ROOT_BUCKET_ID = 'b';

/** How many bits of an id's MD5 a bucket prefix may use; deeper than this, a bucket cannot be cut. */
export const MAX_BUCKET_DEPTH = 64;

/**
 * Ids a Firestore map key can hold as they are: `e.<id>` is a field path, limited to 1,500 bytes
 * (the emulator answers "property path is longer than 1500 bytes"), so 1 KiB leaves room.
 * https://cloud.google.com/firestore/quotas#collections_documents_and_fields
 */
const MAX_PLAIN_KEY_BYTES = 1024;

/** Field names matching `__.*__` are reserved, also inside maps ("field name '__x__' is reserved"). */
const RESERVED_FIELD_NAME = /^__[\s\S]*__$/;

/** An unpaired UTF-16 surrogate: not valid UTF-8, and Firestore fails the whole write (UNKNOWN). */
const LONE_SURROGATE = /\p{Cs}/u;

/**
 * Where an entry lives in its bucket document:
 * - `e` (most ids): key = the entity id, value = `[hash, version, deleted]`;
 * - `l` (ids no map key can hold: empty, over 1 KiB, `__x__`, unpaired surrogates): key = SHA-256
 *   (hex) of the id's JSON, value = `[hash, version, deleted, JSON of the id]`. JSON keeps an unpaired
 *   surrogate as `\udxxx` text, so every JavaScript string round-trips exactly.
 * Which map an id goes to depends on the id alone, so an id is never in both.
 */
export const EntryField = { plain: 'e', long: 'l' } as const;
export type EntryField = (typeof EntryField)[keyof typeof EntryField];

export type StoredValue = readonly (string | number | boolean)[];

/** One entry as it is stored, with what placing and sizing it needs. */
export interface StoredEntry {
  readonly entityId: string;
  readonly entry: SnapshotEntry;
  readonly field: EntryField;
  readonly key: string;
  readonly value: StoredValue;
  /** Firestore storage size of this map entry (key and value), per the documented rules. */
  readonly bytes: number;
  /** Upper bound of what this entry adds to a commit request (key twice: data and field mask). */
  readonly requestBytes: number;
  /** The first 64 bits of MD5(id), as `0`/`1` characters: the bucket address. */
  readonly bits: string;
}

/** Entries and Firestore bytes of a bucket, exact or as an upper bound. */
export interface BucketLoad {
  readonly count: number;
  readonly bytes: number;
}

export interface BucketLimits {
  /** A bucket never holds more entries than this. */
  readonly maxEntries: number;
  /** ...nor more entry bytes than this (the document's own overhead already taken off). */
  readonly maxEntryBytes: number;
}

/**
 * After a bucket was read to settle an over-estimate, it is cut unless it is at most this full.
 * Without the margin a bucket just under its limit would be re-read by every commit that touches
 * it; with it, each re-read is paid for by at least a quarter of a bucket of earlier updates.
 */
const RECOUNT_FILL = 0.75;

/**
 * String size in Firestore's storage accounting: UTF-8 bytes + 1.
 * https://cloud.google.com/firestore/docs/storage-size#string-size
 */
export function stringSize(s: string): number {
  return Buffer.byteLength(s, 'utf8') + 1;
}

/**
 * What a bucket document weighs before any entry: its name (each path segment as a string, + 16),
 * the two map field names, and 32 bytes per document. Map values are the sum of their entries.
 * https://cloud.google.com/firestore/docs/storage-size#document-size
 */
export function bucketOverheadBytes(pathSegments: readonly string[]): number {
  const name = pathSegments.reduce((sum, segment) => sum + stringSize(segment), 16);
  return name + stringSize(EntryField.plain) + stringSize(EntryField.long) + 32;
}

const BYTE_BITS = Array.from({ length: 256 }, (_, b) => b.toString(2).padStart(8, '0'));

/** The bucket address of an id: the first 64 bits of its MD5, uniform whatever the ids look like. */
export function idBits(entityId: string): string {
  const digest = createHash('md5').update(entityId, 'utf8').digest();
  let bits = '';
  for (let i = 0; i < 8; i++) bits += BYTE_BITS[digest[i] ?? 0] ?? '';
  return bits;
}

function isPlainKey(entityId: string): boolean {
  return (
    entityId !== '' &&
    Buffer.byteLength(entityId, 'utf8') <= MAX_PLAIN_KEY_BYTES &&
    !RESERVED_FIELD_NAME.test(entityId) &&
    !LONE_SURROGATE.test(entityId)
  );
}

/** The stored form of one entity's entry; deterministic, so a read entry re-encodes to the same key. */
export function encodeEntry(entityId: string, entry: SnapshotEntry): StoredEntry {
  const bits = idBits(entityId);
  const valueBytes = stringSize(entry.hash) + 8 + 1; // string + integer + boolean
  if (isPlainKey(entityId)) {
    const keyBytes = stringSize(entityId);
    return {
      entityId,
      entry,
      field: EntryField.plain,
      key: entityId,
      value: [entry.hash, entry.version, entry.deleted],
      bytes: keyBytes + valueBytes,
      // The field mask repeats the key, backquoted and escaped (at most twice as long).
      requestBytes: 3 * keyBytes + valueBytes + 32,
      bits,
    };
  }
  const json = JSON.stringify(entityId);
  const key = createHash('sha256').update(json, 'utf8').digest('hex');
  const bytes = stringSize(key) + valueBytes + stringSize(json);
  return {
    entityId,
    entry,
    field: EntryField.long,
    key,
    value: [entry.hash, entry.version, entry.deleted, json],
    bytes,
    requestBytes: bytes + 2 * stringSize(key) + 32,
    bits,
  };
}

export function encodeUpdate(update: SnapshotUpdate): StoredEntry {
  return encodeEntry(update.entityId, { hash: update.hash, version: update.version, deleted: update.deleted });
}

/**
 * One entry may take at most this share of a bucket, so a full bucket always holds several and
 * cutting it always makes progress. With the default 512 KiB: ids up to ~64 KB.
 */
const MAX_ENTRY_SHARE = 1 / 8;

/**
 * Refuses entries no bucket of `maxBucketBytes` can take, or that Firestore would refuse, before
 * anything is written: checked by `recordPending` too, so a group that could never be committed
 * never reaches the bus.
 */
export function checkEntries(source: string, entries: Iterable<StoredEntry>, maxBucketBytes: number): void {
  const maxEntryBytes = Math.floor(maxBucketBytes * MAX_ENTRY_SHARE);
  for (const e of entries) {
    if (e.bytes > maxEntryBytes) throw entryTooLarge(source, e, maxEntryBytes);
    // Firestore strings must be valid UTF-8; it would refuse the whole write (UNKNOWN, after retries).
    if (LONE_SURROGATE.test(e.entry.hash)) throw invalidEntryHash(source, e);
  }
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function decodeValue(raw: unknown, field: EntryField, where: string, key: string): [SnapshotEntry, string | undefined] {
  const length = field === EntryField.plain ? 3 : 4;
  if (!Array.isArray(raw) || raw.length !== length)
    throw corruptSnapshot(where, `a malformed entry under ${field}.${key}`);
  const [hash, version, deleted, json] = raw as unknown[];
  if (typeof hash !== 'string' || typeof version !== 'number' || !Number.isSafeInteger(version)) {
    throw corruptSnapshot(where, `a malformed entry under ${field}.${key}`);
  }
  if (typeof deleted !== 'boolean' || (field === EntryField.long && typeof json !== 'string')) {
    throw corruptSnapshot(where, `a malformed entry under ${field}.${key}`);
  }
  return [{ hash, version, deleted }, typeof json === 'string' ? json : undefined];
}

/** Calls `visit` for every entry of a bucket document's data. */
export function forEachEntry(
  data: Readonly<Record<string, unknown>>,
  where: string,
  visit: (entityId: string, entry: SnapshotEntry) => void,
): void {
  for (const field of [EntryField.plain, EntryField.long]) {
    const map = data[field];
    if (map === undefined) continue;
    if (!isRecord(map)) throw corruptSnapshot(where, `a field "${field}" that is not a map`);
    for (const [key, raw] of Object.entries(map)) {
      const [entry, json] = decodeValue(raw, field, where, key);
      if (json === undefined) {
        visit(key, entry);
        continue;
      }
      let entityId: unknown;
      try {
        entityId = JSON.parse(json);
      } catch {
        entityId = undefined;
      }
      if (typeof entityId !== 'string') throw corruptSnapshot(where, `an unreadable id under ${field}.${key}`);
      visit(entityId, entry);
    }
  }
}

/** A bucket document's data for `entries`: only the maps that have entries (an empty map would erase one on merge). */
export function bucketData(entries: Iterable<StoredEntry>): Record<string, Record<string, StoredValue>> {
  const data: Record<string, Record<string, StoredValue>> = {};
  for (const e of entries) (data[e.field] ??= {})[e.key] = e.value;
  return data;
}

export function loadOf(entries: Iterable<StoredEntry>): BucketLoad {
  let count = 0;
  let bytes = 0;
  for (const e of entries) {
    count += 1;
    bytes += e.bytes;
  }
  return { count, bytes };
}

export function addLoads(a: BucketLoad, b: BucketLoad): BucketLoad {
  return { count: a.count + b.count, bytes: a.bytes + b.bytes };
}

export function fits(load: BucketLoad, limits: BucketLimits, fill = 1): boolean {
  return load.count <= limits.maxEntries * fill && load.bytes <= limits.maxEntryBytes * fill;
}

/**
 * The set of buckets of one source: the leaves of a binary trie over the id bits, so every id has
 * exactly one bucket, the one whose bits are a prefix of the id's.
 */
export class BucketDirectory {
  private readonly ids: Set<string>;
  private maxDepth = 0;

  constructor(ids: Iterable<string>) {
    this.ids = new Set(ids);
    if (this.ids.size === 0) this.ids.add(ROOT_BUCKET_ID);
    for (const id of this.ids) this.maxDepth = Math.max(this.maxDepth, id.length - 1);
  }

  get size(): number {
    return this.ids.size;
  }

  has(id: string): boolean {
    return this.ids.has(id);
  }

  bucketOf(bits: string): string {
    for (let depth = 0; depth <= this.maxDepth; depth++) {
      const id = ROOT_BUCKET_ID + bits.slice(0, depth);
      if (this.ids.has(id)) return id;
    }
    // A directory that is not a complete trie (a hand-edited meta document).
    throw new AppError('SNAPSHOT.CORRUPT', `Snapshot store (Firestore): no bucket owns the hash prefix ${bits}`, {
      retryable: false,
    });
  }
}

/** One bucket after a split (or the bucket itself after a recount): its current entries, exact. */
export interface BucketPiece {
  readonly id: string;
  readonly entries: readonly StoredEntry[];
  readonly load: BucketLoad;
}

/**
 * Decides what a bucket becomes once it has been read because `current` plus the `pending` updates
 * might not fit. Returns the bucket itself (the estimate was just high: overwrites counted as new
 * entries) or the pieces it is cut into, each holding only its share of `current` (the pending
 * updates are applied later, by the commit's own transaction) and each small enough that its
 * share of `pending`, counted as all new, fits too.
 */
export function planBucket(
  id: string,
  current: readonly StoredEntry[],
  pending: readonly StoredEntry[],
  limits: BucketLimits,
): BucketPiece[] {
  const currentLoad = loadOf(current);
  const merged = new Map<string, StoredEntry>();
  for (const e of current) merged.set(`${e.field}:${e.key}`, e);
  for (const e of pending) merged.set(`${e.field}:${e.key}`, e);
  const keep =
    fits(addLoads(currentLoad, loadOf(pending)), limits) && fits(loadOf(merged.values()), limits, RECOUNT_FILL);
  if (keep) return [{ id, entries: current, load: currentLoad }];
  return split(id, current, pending, limits);
}

function split(
  id: string,
  current: readonly StoredEntry[],
  pending: readonly StoredEntry[],
  limits: BucketLimits,
): BucketPiece[] {
  const depth = id.length - ROOT_BUCKET_ID.length;
  if (depth >= MAX_BUCKET_DEPTH) {
    throw new AppError(
      'SNAPSHOT.BUCKET_FULL',
      `Snapshot store (Firestore): bucket ${id} cannot be cut further: its entries share ${MAX_BUCKET_DEPTH} bits of MD5`,
      { retryable: false, details: { bucket: id } },
    );
  }
  const pieces: BucketPiece[] = [];
  for (const bit of ['0', '1']) {
    const childId = id + bit;
    const childCurrent = current.filter((e) => e.bits[depth] === bit);
    const childPending = pending.filter((e) => e.bits[depth] === bit);
    const load = loadOf(childCurrent);
    if (fits(addLoads(load, loadOf(childPending)), limits)) {
      pieces.push({ id: childId, entries: childCurrent, load });
    } else {
      pieces.push(...split(childId, childCurrent, childPending, limits));
    }
  }
  return pieces;
}
