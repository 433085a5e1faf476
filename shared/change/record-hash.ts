import { hash } from 'node:crypto';
import { configure } from 'safe-stable-stringify';

/**
 * The content hash of a record, for change detection: 64 bits as 16 hex characters, computed by
 * walking the parsed value, never serialising it.
 *
 * Why not a digest of canonical JSON (what the first version did, MD5 of safe-stable-stringify's
 * output): building a sorted-key string of every record costs more than parsing the page did, and
 * the poller hashes every record of every cycle. Walking the value and mixing its parts into two
 * 32-bit lanes costs a fraction of that (see `npm run bench`, figure "hash + diff"). No published
 * package hashes a parsed value without serialising it first, so the walk is ours; the mixing
 * steps are MurmurHash3's and xxHash32's published rounds and finalisers.
 *
 * What it promises, which the tests pin:
 * - key order is not content: APIs reorder keys between deploys, and that must not look like a
 *   change. Object members are hashed one by one and summed, so their order cannot matter and
 *   nothing is sorted;
 * - types are content: 1, "1", true, null, [] and {} all differ, and so do a missing key and a
 *   null one; array order is content;
 * - the same value gives the same hash on every platform and Node version (numbers are hashed by
 *   their IEEE-754 bits in little-endian order, strings by their UTF-16 code units).
 *
 * 64 bits suffice because a hash is only ever compared with the previous hash of the same entity:
 * an update goes unseen only if both states collide, with probability 2^-64 per change.
 * The value is also part of event ids; changing this function changes every id and would make
 * every entity look updated, which is why stored hashes of the old format are still recognised
 * (`sameContent`).
 */
export function hashRecord(record: unknown): string {
  hashValue(record);
  // One native hex encoding of both lanes: a fifth of the cost of formatting each with toString(16).
  hexScratch.writeInt32BE(fmixA(outA ^ HASH_VERSION), 0);
  hexScratch.writeInt32BE(fmixB(outB ^ HASH_VERSION), 4);
  return hexScratch.toString('hex');
}

/**
 * True when `storedHash` (from the snapshot) describes the same content as `current`. Accepts the
 * first hash format (22-character MD5 of canonical JSON), so that a snapshot written before the
 * hash changed is not taken for a snapshot of changed data; the poller then stores the new hash.
 */
export function sameContent(current: { readonly record: unknown; readonly hash: string }, storedHash: string): boolean {
  if (current.hash === storedHash) return true;
  return isLegacyHash(storedHash) && legacyHashRecord(current.record) === storedHash;
}

/** A hash of the first format: MD5 (base64url) of the record's canonical JSON. */
export function isLegacyHash(storedHash: string): boolean {
  return storedHash.length === LEGACY_HASH_LENGTH;
}

const LEGACY_HASH_LENGTH = 22;
const legacyStringify = configure({ deterministic: true, bigint: false, circularValue: Error });

/** The first hash format, kept only to recognise snapshot entries written with it. */
export function legacyHashRecord(record: unknown): string {
  return hash('md5', legacyStringify(record) ?? 'null', 'base64url');
}

/** Mixed into the final hash, so a future format can never produce this one's values. */
const HASH_VERSION = 2;

const TAG_NULL = 0x6e756c6c;
const TAG_TRUE = 0x74727565;
const TAG_FALSE = 0x66616c73;
const TAG_INT = 0x696e7433;
const TAG_FLOAT = 0x666c6f74;
const TAG_STRING = 0x73747269;
const TAG_ARRAY = 0x61727261;
const TAG_OBJECT = 0x6f626a65;
/** Values JSON cannot hold (undefined, functions, symbols, BigInts): JSON.stringify drops them from objects. */
const TAG_OTHER = 0x6f746872;

const SEED_A = 0x9747b28c;
const SEED_B = 0x5bd1e995;

/** The two lanes of the last `hashValue` call: results are passed in module state to avoid allocating a pair per value. */
let outA = 0;
let outB = 0;

const floatView = new DataView(new ArrayBuffer(8));
const hexScratch = Buffer.alloc(8);

function hashValue(value: unknown): void {
  switch (typeof value) {
    case 'string':
      hashString(value, TAG_STRING);
      return;
    case 'number':
      hashNumber(value);
      return;
    case 'boolean':
      outA = fmixA(mixA(SEED_A, value ? TAG_TRUE : TAG_FALSE));
      outB = fmixB(mixB(SEED_B, value ? TAG_TRUE : TAG_FALSE));
      return;
    case 'object':
      if (value === null) {
        outA = fmixA(mixA(SEED_A, TAG_NULL));
        outB = fmixB(mixB(SEED_B, TAG_NULL));
      } else if (Array.isArray(value)) hashArray(value as readonly unknown[]);
      else hashObject(value as Readonly<Record<string, unknown>>);
      return;
    default:
      outA = fmixA(mixA(SEED_A, TAG_OTHER));
      outB = fmixB(mixB(SEED_B, TAG_OTHER));
  }
}

/** Two UTF-16 code units per 32-bit word; the length goes into the finaliser, as in MurmurHash3. */
function hashString(text: string, tag: number): void {
  let a = mixA(SEED_A, tag);
  let b = mixB(SEED_B, tag);
  const length = text.length;
  const pairs = length & ~1;
  for (let i = 0; i < pairs; i += 2) {
    const word = text.charCodeAt(i) | (text.charCodeAt(i + 1) << 16);
    a = mixA(a, word);
    b = mixB(b, word);
  }
  if (pairs !== length) {
    const last = text.charCodeAt(pairs);
    a = mixA(a, last);
    b = mixB(b, last);
  }
  outA = fmixA(a ^ length);
  outB = fmixB(b ^ length);
}

function hashNumber(value: number): void {
  // -0 joins 0 here, as it does in JSON; JSON.parse cannot produce NaN or Infinity.
  if ((value | 0) === value) {
    outA = fmixA(mixA(mixA(SEED_A, TAG_INT), value));
    outB = fmixB(mixB(mixB(SEED_B, TAG_INT), value));
    return;
  }
  floatView.setFloat64(0, value, true);
  const low = floatView.getInt32(0, true);
  const high = floatView.getInt32(4, true);
  outA = fmixA(mixA(mixA(mixA(SEED_A, TAG_FLOAT), low), high));
  outB = fmixB(mixB(mixB(mixB(SEED_B, TAG_FLOAT), low), high));
}

function hashArray(items: readonly unknown[]): void {
  let a = mixA(SEED_A, TAG_ARRAY);
  let b = mixB(SEED_B, TAG_ARRAY);
  for (let i = 0; i < items.length; i++) {
    // JSON.stringify writes null for an array element it cannot represent.
    const item = items[i];
    if (item === undefined || typeof item === 'function' || typeof item === 'symbol') hashValue(null);
    else hashValue(item);
    a = mixA(a, outA);
    b = mixB(b, outB);
  }
  outA = fmixA(a ^ items.length);
  outB = fmixB(b ^ items.length);
}

/**
 * Records of one API repeat the same few keys, so their hashes are kept rather than recomputed
 * for every record; bounded, because some APIs use ids or dates as keys.
 */
const keyHashes = new Map<string, readonly [number, number]>();
const KEY_CACHE_LIMIT = 4096;

/**
 * Each member is hashed on its own (its key's hash chained with its value's) and the members are
 * summed: addition commutes, so key order drops out without sorting anything.
 */
function hashObject(object: Readonly<Record<string, unknown>>): void {
  let sumA = 0;
  let sumB = 0;
  let members = 0;
  for (const key in object) {
    if (!Object.prototype.hasOwnProperty.call(object, key)) continue;
    const value = object[key];
    // JSON.stringify leaves these members out; so does the hash, so {a: undefined} equals {}.
    if (value === undefined || typeof value === 'function' || typeof value === 'symbol') continue;
    const cached = keyHashes.get(key);
    let keyA: number;
    let keyB: number;
    if (cached === undefined) {
      hashString(key, TAG_OBJECT);
      keyA = outA;
      keyB = outB;
      if (keyHashes.size < KEY_CACHE_LIMIT) keyHashes.set(key, [keyA, keyB]);
    } else {
      keyA = cached[0];
      keyB = cached[1];
    }
    hashValue(value);
    sumA = (sumA + fmixA(mixA(keyA, outA))) | 0;
    sumB = (sumB + fmixB(mixB(keyB, outB))) | 0;
    members += 1;
  }
  outA = fmixA(mixA(mixA(SEED_A, TAG_OBJECT), sumA) ^ members);
  outB = fmixB(mixB(mixB(SEED_B, TAG_OBJECT), sumB) ^ members);
}

/** MurmurHash3 x86_32 block round. */
function mixA(h: number, k: number): number {
  k = Math.imul(k, 0xcc9e2d51);
  k = (k << 15) | (k >>> 17);
  k = Math.imul(k, 0x1b873593);
  h ^= k;
  h = (h << 13) | (h >>> 19);
  return (Math.imul(h, 5) + 0xe6546b64) | 0;
}

/** MurmurHash3 finaliser. */
function fmixA(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  return h ^ (h >>> 16);
}

/** xxHash32 round, with its own primes so the lanes do not collide together. */
function mixB(h: number, k: number): number {
  h = (h + Math.imul(k, 0x85ebca77)) | 0;
  h = (h << 13) | (h >>> 19);
  return Math.imul(h, 0x9e3779b1);
}

/** xxHash32 finaliser (avalanche). */
function fmixB(h: number): number {
  h ^= h >>> 15;
  h = Math.imul(h, 0x85ebca77);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae3d);
  return h ^ (h >>> 16);
}
