import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { PushAuthenticator } from '../../ports/push-authenticator';

/** 256 bits: the local bus's credential for one start of the pipeline. */
const SECRET_BYTES = 32;

/** A fresh push secret, base64url (a valid RFC 6750 `b64token`). */
export function newPushSecret(): string {
  return randomBytes(SECRET_BYTES).toString('base64url');
}

/** The `Authorization` header value that carries `secret`. */
export function bearerHeader(secret: string): string {
  return `Bearer ${secret}`;
}

/**
 * Checks that a push request carries `Authorization: Bearer <secret>`, the secret this start of
 * the local pipeline gave its bus: any other local process (or a browser page) that reaches the
 * loader's loopback port is refused 401 (RFC 6750 §3.1). Both sides are hashed before the
 * comparison, so that `timingSafeEqual` compares equal lengths and the time taken says nothing
 * about the secret, not even its length.
 */
export function createSharedSecretPushAuthenticator(secret: string): PushAuthenticator {
  if (secret === '') throw new Error('a push secret must not be empty');
  const expected = digest(bearerHeader(secret));
  return ({ authorization }) =>
    Promise.resolve(
      authorization !== undefined && timingSafeEqual(digest(authorization.trim()), expected)
        ? { ok: true }
        : { ok: false, status: 401 },
    );
}

function digest(text: string): Buffer {
  return createHash('sha256').update(text, 'utf8').digest();
}
