import { hash } from 'node:crypto';
import { configure } from 'safe-stable-stringify';

/**
 * Key order is not part of a record's content: APIs serialise the same object with keys in
 * different orders between deploys, and that must not look like a change. Circular values cannot
 * come out of JSON.parse, so the library's cycle handling never fires; BigInts cannot either.
 */
const stableStringify = configure({ deterministic: true, bigint: false, circularValue: Error });

/**
 * The content hash of a record: MD5 (128 bits, base64url, 22 characters) of its canonical JSON.
 * MD5 is used for change detection, not for security: the snapshot index keeps one hash per
 * entity, so its size and speed matter more than collision resistance against an adversary,
 * and 128 bits make an accidental collision across billions of records negligible.
 */
export function hashRecord(record: unknown): string {
  const text = stableStringify(record);
  return hash('md5', text ?? 'null', 'base64url');
}
