import type { KeyObject } from 'node:crypto';
import { compactVerify, decodeProtectedHeader, errors as jose } from 'jose';
import type { PushAuthConfig } from '../../config/schema';
import { DEFAULTS } from '../../config/defaults';
import { AppError, errorMessage } from '../../errors';
import type { Logger } from '../../log';
import { systemClock, type Clock } from '../../ports/clock';
import type { PushAuthenticator, PushAuthResult } from '../../ports/push-authenticator';
import {
  googleSigningKeys,
  PUSH_AUTH_CERTS_UNAVAILABLE,
  rsaKeyReader,
  type CertsProvider,
  type SigningKeys,
} from './pubsub-push-signing-keys';

export type { PushAuthenticator, PushAuthResult };
// Where the keys come from is its own file; the authenticator's callers get it from here as before.
export * from './pubsub-push-signing-keys';

/** Why a token was refused: the `reason` of the warn line. The status each one gets is in `STATUS`. */
export const PushAuthReason = {
  missingToken: 'PUSH_AUTH.MISSING_TOKEN',
  malformedToken: 'PUSH_AUTH.MALFORMED_TOKEN',
  unsupportedAlgorithm: 'PUSH_AUTH.UNSUPPORTED_ALG',
  unknownKey: 'PUSH_AUTH.UNKNOWN_KEY',
  badSignature: 'PUSH_AUTH.BAD_SIGNATURE',
  wrongAudience: 'PUSH_AUTH.WRONG_AUDIENCE',
  wrongIssuer: 'PUSH_AUTH.WRONG_ISSUER',
  expired: 'PUSH_AUTH.EXPIRED',
  notYetValid: 'PUSH_AUTH.NOT_YET_VALID',
  tooLongLived: 'PUSH_AUTH.TOO_LONG_LIVED',
  wrongEmail: 'PUSH_AUTH.WRONG_EMAIL',
  emailNotVerified: 'PUSH_AUTH.EMAIL_NOT_VERIFIED',
} as const;
export type PushAuthReason = (typeof PushAuthReason)[keyof typeof PushAuthReason];

/** How far the token's times may be off from our clock (why this much: DEFAULTS.loader.pushTokenClockSkew). */
export const PUSH_TOKEN_CLOCK_SKEW_MS = DEFAULTS.loader.pushTokenClockSkew.totalOf('millisecond');

/** Tokens that expire further ahead than this are refused, as google-auth-library's verifier does. */
export const PUSH_TOKEN_MAX_LIFETIME_MS = 24 * 60 * 60 * 1000;

/**
 * 401 (RFC 6750 §3.1 `invalid_token`): no token, or not a valid token *for this endpoint*: forged,
 * expired, from an issuer we do not trust, or minted for another audience. Google's Cloud Run docs
 * treat the audience as part of a valid ID token ("must provide a valid ID token that includes an
 * audience claim matching the receiving service"), and a token for another service is worth no more
 * here than none.
 * 403: a valid token for us, but the caller it proves is not the push service account (as Cloud
 * Run answers a valid caller without `roles/run.invoker`). Pub/Sub retries both the same way; the
 * split tells the operator what to fix: the subscription's token config (401) or who pushes (403).
 */
const STATUS: Readonly<Record<PushAuthReason, 401 | 403>> = {
  'PUSH_AUTH.MISSING_TOKEN': 401,
  'PUSH_AUTH.MALFORMED_TOKEN': 401,
  'PUSH_AUTH.UNSUPPORTED_ALG': 401,
  'PUSH_AUTH.UNKNOWN_KEY': 401,
  'PUSH_AUTH.BAD_SIGNATURE': 401,
  'PUSH_AUTH.WRONG_AUDIENCE': 401,
  'PUSH_AUTH.WRONG_ISSUER': 401,
  'PUSH_AUTH.EXPIRED': 401,
  'PUSH_AUTH.NOT_YET_VALID': 401,
  'PUSH_AUTH.TOO_LONG_LIVED': 401,
  'PUSH_AUTH.WRONG_EMAIL': 403,
  'PUSH_AUTH.EMAIL_NOT_VERIFIED': 403,
};

export interface PushAuthDeps {
  readonly logger: Logger;
  readonly clock?: Clock;
  /** Default: Google's OIDC signing certs, see `googleSigningKeys`. Tests pass their own key. */
  readonly certs?: CertsProvider;
}

/**
 * Checks the OIDC token Pub/Sub signs for an authenticated push subscription
 * (https://cloud.google.com/pubsub/docs/authenticate-push-subscriptions): `Authorization: Bearer
 * <JWT>`, RS256 only, signed by one of the signing keys (by `kid`), `aud` the configured audience,
 * `iss` one of the configured issuers, within its lifetime (`exp`, `iat`, `nbf`, allowing
 * PUSH_TOKEN_CLOCK_SKEW_MS), `email` the push service account and `email_verified` true.
 *
 * jose verifies the compact JWS (RFC 7515: framing, `alg` allow-list, `crit`, the RS256 signature).
 * The claims are checked here rather than by jose's `jwtVerify`, whose rules differ from the ones
 * this endpoint keeps: it takes `aud` lists, checks `iss` before `aud`, compares times in whole
 * seconds with `exp` exclusive (here the skew runs to the millisecond, `exp` included), and has no
 * maximum lifetime.
 *
 * Refusals resolve to 401 or 403 (see STATUS) and log one warn line with the reason, never the
 * token. When the signing keys cannot be fetched or read, nothing can be decided: it rejects with
 * a retryable AppError (PUSH_AUTH_CERTS_UNAVAILABLE), which the loader answers 503 so that Pub/Sub
 * redelivers later instead of counting a refusal.
 */
export function createPushAuthenticator(config: PushAuthConfig, deps: PushAuthDeps): PushAuthenticator {
  const log = deps.logger.child({ component: 'pubsub-push-auth' });
  const clock = deps.clock ?? systemClock;
  const certs = deps.certs ?? googleSigningKeys();
  const issuers = new Set(config.issuers);
  const rsaKey = rsaKeyReader();
  const refuse = (reason: PushAuthReason, fields: Readonly<Record<string, string>> = {}): PushAuthResult => {
    const status = STATUS[reason];
    log.warn('push token refused', { reason, status, ...fields });
    return { ok: false, status };
  };

  return async ({ authorization }) => {
    const token = bearerToken(authorization);
    if (token === undefined) return refuse(PushAuthReason.missingToken);
    const header = protectedHeader(token);
    if (header === undefined) return refuse(PushAuthReason.malformedToken);
    // Before any key is fetched: `none` and HS256 (whose "secret" would be our public key) never
    // get near a verifier, nor does any algorithm Pub/Sub does not use.
    if (header['alg'] !== 'RS256') return refuse(PushAuthReason.unsupportedAlgorithm);
    // RFC 7515 §4.1.11: a token that needs extensions we do not implement is invalid.
    if (header['crit'] !== undefined) return refuse(PushAuthReason.malformedToken);
    const kid = header['kid'];
    if (typeof kid !== 'string' || kid === '') return refuse(PushAuthReason.unknownKey);

    let keys: SigningKeys;
    try {
      keys = await certs();
    } catch (e: unknown) {
      throw new AppError(PUSH_AUTH_CERTS_UNAVAILABLE, `token signing keys could not be fetched: ${errorMessage(e)}`, {
        retryable: true,
        cause: e,
      });
    }
    const key = rsaKey(keys, kid);
    if (key === undefined) return refuse(PushAuthReason.unknownKey, plainKid(kid));
    const payload = await verifiedPayload(token, key);
    if (typeof payload === 'string') return refuse(payload);

    // Only now is the payload trusted enough to read.
    const claims = parseClaims(payload);
    if (claims === undefined) return refuse(PushAuthReason.malformedToken);
    if (claims.aud !== config.audience) return refuse(PushAuthReason.wrongAudience, { tokenAudience: claims.aud });
    if (!issuers.has(claims.iss)) return refuse(PushAuthReason.wrongIssuer, { tokenIssuer: claims.iss });

    const nowMs = clock.now().getTime();
    if (claims.exp * 1000 + PUSH_TOKEN_CLOCK_SKEW_MS < nowMs) return refuse(PushAuthReason.expired);
    if (claims.iat * 1000 - PUSH_TOKEN_CLOCK_SKEW_MS > nowMs) return refuse(PushAuthReason.notYetValid);
    if (claims.nbf !== undefined && claims.nbf * 1000 - PUSH_TOKEN_CLOCK_SKEW_MS > nowMs) {
      return refuse(PushAuthReason.notYetValid);
    }
    if (claims.exp * 1000 > nowMs + PUSH_TOKEN_MAX_LIFETIME_MS) return refuse(PushAuthReason.tooLongLived);

    if (claims.email !== config.serviceAccountEmail) {
      return refuse(PushAuthReason.wrongEmail, serviceAccountField(claims.email));
    }
    // Strictly the boolean: Pub/Sub sends `true`, and nothing else proves the address.
    if (claims.email_verified !== true) return refuse(PushAuthReason.emailNotVerified);
    return { ok: true };
  };
}

/** RFC 6750 §2.1: `Bearer <b64token>`; the scheme is case-insensitive (RFC 9110 §11.1). */
const BEARER = /^Bearer +([A-Za-z0-9._~+/-]+=*)$/i;
/**
 * A compact JWS of three non-empty base64url segments (RFC 7515 §7.1). jose would take an empty
 * signature (`alg: none`) or a lax base64 segment as far as its `alg` check; they are malformed.
 */
const COMPACT_JWS = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/;

function bearerToken(authorization: string | undefined): string | undefined {
  if (authorization === undefined) return undefined;
  return BEARER.exec(authorization.trim())?.[1];
}

/** The decoded JOSE header of a well-formed compact JWS, unverified; undefined when malformed. */
function protectedHeader(token: string): Readonly<Record<string, unknown>> | undefined {
  if (!COMPACT_JWS.test(token)) return undefined;
  try {
    return decodeProtectedHeader(token);
  } catch {
    return undefined;
  }
}

/** The payload of `token` once jose has checked its RS256 signature with `key`, or why not. */
async function verifiedPayload(token: string, key: KeyObject): Promise<Uint8Array | PushAuthReason> {
  try {
    return (await compactVerify(token, key, { algorithms: ['RS256'] })).payload;
  } catch (e: unknown) {
    if (e instanceof jose.JWSSignatureVerificationFailed) return PushAuthReason.badSignature;
    // The header passed the checks above: any other JOSE error is a segment jose could not decode.
    if (e instanceof jose.JOSEError) return PushAuthReason.malformedToken;
    throw e;
  }
}

function parseJsonObject(bytes: Uint8Array): Record<string, unknown> | undefined {
  try {
    const value: unknown = JSON.parse(Buffer.from(bytes).toString('utf8'));
    return typeof value === 'object' && value !== null && !Array.isArray(value)
      ? (value as Record<string, unknown>)
      : undefined;
  } catch {
    return undefined;
  }
}

/** The claims Pub/Sub's token carries (see the page above); the times are NumericDates (seconds). */
interface PushTokenClaims {
  readonly aud: string;
  readonly iss: string;
  readonly exp: number;
  readonly iat: number;
  readonly nbf?: number;
  readonly email?: string;
  readonly email_verified?: unknown;
}

function parseClaims(payload: Uint8Array): PushTokenClaims | undefined {
  const raw = parseJsonObject(payload);
  if (raw === undefined) return undefined;
  const { aud, iss, exp, iat, nbf, email, email_verified } = raw;
  // `aud` may be an array in general JWTs; Pub/Sub sends one string, and only that is accepted.
  if (typeof aud !== 'string' || typeof iss !== 'string') return undefined;
  if (!isNumericDate(exp) || !isNumericDate(iat)) return undefined;
  if (nbf !== undefined && !isNumericDate(nbf)) return undefined;
  if (email !== undefined && typeof email !== 'string') return undefined;
  return {
    aud,
    iss,
    exp,
    iat,
    ...(nbf === undefined ? {} : { nbf }),
    ...(email === undefined ? {} : { email }),
    email_verified,
  };
}

function isNumericDate(v: unknown): v is number {
  return typeof v === 'number' && Number.isFinite(v);
}

/** The kid for the log line, when it looks like a key id (Google's are 40 hex digits), not arbitrary input. */
function plainKid(kid: string): Record<string, string> {
  return /^[A-Za-z0-9_-]{1,128}$/.test(kid) ? { kid } : {};
}

/** The token's email for the log line when it is a service account's, never a person's address. */
function serviceAccountField(email: string | undefined): Record<string, string> {
  return email !== undefined && email.endsWith('.gserviceaccount.com') ? { tokenEmail: email } : {};
}
