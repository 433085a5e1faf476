import { constants, createPublicKey, verify, type JsonWebKey, type KeyObject } from 'node:crypto';
import { OAuth2Client, type Certificates } from 'google-auth-library';
import type { PushAuthConfig } from '../../config/schema';
import { DEFAULTS } from '../../config/defaults';
import { AppError, errorMessage } from '../../errors';
import type { Logger } from '../../log';
import { systemClock, type Clock } from '../../ports/clock';
import type { PushAuthenticator, PushAuthResult } from '../../ports/push-authenticator';

export type { PushAuthenticator, PushAuthResult };

/**
 * Token signing keys by key id (`kid`): PEM (X.509 certificates or SPKI public keys) or JWKs, the
 * two shapes `OAuth2Client.getFederatedSignonCertsAsync` returns.
 */
export type SigningKeys = Readonly<Record<string, string | JsonWebKey>>;

/** Fetches the current signing keys; rejects when they cannot be had (network, a bad response). */
export type CertsProvider = () => Promise<SigningKeys>;

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

/** The code of the (retryable) error thrown when the signing keys cannot be fetched or read. */
export const PUSH_AUTH_CERTS_UNAVAILABLE = 'PUSH_AUTH.CERTS_UNAVAILABLE';

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
 * Google's token signing keys, fetched by google-auth-library (PEM certificates on Node) and cached
 * for as long as the response's `Cache-Control: max-age` says. Concurrent calls while a fetch is
 * under way share it, so a burst of pushes after start-up or a key rotation costs one request.
 * https://cloud.google.com/pubsub/docs/authenticate-push-subscriptions
 */
export function googleSigningKeys(client: OAuth2Client = new OAuth2Client()): CertsProvider {
  let inFlight: Promise<SigningKeys> | undefined;
  // The library hands back the same object while its cache is fresh; converting it once keeps
  // that identity, so the authenticator's parsed keys are reused until the keys change.
  let converted: { readonly from: Certificates; readonly to: SigningKeys } | undefined;
  const toSigningKeys = (certs: Certificates): SigningKeys => {
    if (converted?.from !== certs) {
      const entries = Object.entries(certs).map(([kid, key]) => [kid, typeof key === 'string' ? key : { ...key }]);
      converted = { from: certs, to: Object.fromEntries(entries) as SigningKeys };
    }
    return converted.to;
  };
  return () => {
    const pending =
      inFlight ??
      client
        .getFederatedSignonCertsAsync()
        .then((response) => toSigningKeys(response.certs))
        .finally(() => {
          inFlight = undefined;
        });
    inFlight = pending;
    return pending;
  };
}

/**
 * Checks the OIDC token Pub/Sub signs for an authenticated push subscription
 * (https://cloud.google.com/pubsub/docs/authenticate-push-subscriptions): `Authorization: Bearer
 * <JWT>`, RS256 only, signed by one of the signing keys (by `kid`), `aud` the configured audience,
 * `iss` one of the configured issuers, within its lifetime (`exp`, `iat`, `nbf`, allowing
 * PUSH_TOKEN_CLOCK_SKEW_MS), `email` the push service account and `email_verified` true.
 *
 * Refusals resolve to 401 or 403 (see STATUS) and log one warn line with the reason, never the
 * token. When the signing keys cannot be fetched or read, nothing can be decided: it rejects with
 * a retryable AppError (PUSH_AUTH_CERTS_UNAVAILABLE), which the loader answers 503 so that Pub/Sub
 * redelivers later instead of counting a refusal.
 */
export function createPushAuthenticator(config: PushAuthConfig, deps: PushAuthDeps): PushAuthenticator {
  const log = deps.logger.child({ module: 'pubsub-push-auth' });
  const clock = deps.clock ?? systemClock;
  const certs = deps.certs ?? googleSigningKeys();
  const issuers = new Set(config.issuers);
  const keyCache = new WeakMap<SigningKeys, Map<string, KeyObject | undefined>>();

  const refuse = (reason: PushAuthReason, fields: Readonly<Record<string, string>> = {}): PushAuthResult => {
    const status = STATUS[reason];
    log.warn('push token refused', { reason, status, ...fields });
    return { ok: false, status };
  };

  /** The RSA key for `kid`, undefined when there is none; throws when the provider's key is unreadable. */
  const rsaKey = (keys: SigningKeys, kid: string): KeyObject | undefined => {
    // hasOwn, not `in` or keys[kid]: a kid such as "constructor" must not reach Object.prototype.
    if (!Object.hasOwn(keys, kid)) return undefined;
    let parsed = keyCache.get(keys);
    if (parsed === undefined) {
      parsed = new Map();
      keyCache.set(keys, parsed);
    }
    if (!parsed.has(kid)) parsed.set(kid, toRsaKey(keys[kid], kid));
    return parsed.get(kid);
  };

  return async ({ authorization }) => {
    const token = bearerToken(authorization);
    if (token === undefined) return refuse(PushAuthReason.missingToken);
    const parts = splitJws(token);
    if (parts === undefined) return refuse(PushAuthReason.malformedToken);
    const header = parseJsonObject(parts.header);
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
    if (!verifyRs256(key, parts.signingInput, parts.signature)) return refuse(PushAuthReason.badSignature);

    // Only now is the payload trusted enough to read.
    const claims = parseClaims(parts.payload);
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
const BASE64URL = /^[A-Za-z0-9_-]+$/;

function bearerToken(authorization: string | undefined): string | undefined {
  if (authorization === undefined) return undefined;
  return BEARER.exec(authorization.trim())?.[1];
}

interface JwsParts {
  readonly header: string;
  readonly payload: string;
  readonly signature: string;
  /** `header.payload` as sent: what the signature covers. */
  readonly signingInput: string;
}

/** A compact JWS: three non-empty base64url segments (RFC 7515 §7.1). */
function splitJws(token: string): JwsParts | undefined {
  const segments = token.split('.');
  if (segments.length !== 3) return undefined;
  const [header, payload, signature] = segments;
  if (header === undefined || payload === undefined || signature === undefined) return undefined;
  if (![header, payload, signature].every((s) => BASE64URL.test(s))) return undefined;
  return { header, payload, signature, signingInput: `${header}.${payload}` };
}

function parseJsonObject(segment: string): Record<string, unknown> | undefined {
  try {
    const value: unknown = JSON.parse(Buffer.from(segment, 'base64url').toString('utf8'));
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

function parseClaims(segment: string): PushTokenClaims | undefined {
  const raw = parseJsonObject(segment);
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

/** RS256 = RSASSA-PKCS1-v1_5 with SHA-256 (RFC 7518 §3.3). */
function verifyRs256(key: KeyObject, signingInput: string, signature: string): boolean {
  try {
    return verify(
      'sha256',
      Buffer.from(signingInput, 'ascii'),
      { key, padding: constants.RSA_PKCS1_PADDING },
      Buffer.from(signature, 'base64url'),
    );
  } catch {
    return false;
  }
}

/**
 * The provider's key as an RSA public key; undefined for a key of another type (it cannot have
 * signed an RS256 token). A key that cannot be parsed at all is the provider's fault, not the
 * sender's: thrown as retryable.
 */
function toRsaKey(material: string | JsonWebKey | undefined, kid: string): KeyObject | undefined {
  if (material === undefined) return undefined;
  let key: KeyObject;
  try {
    key = typeof material === 'string' ? createPublicKey(material) : createPublicKey({ key: material, format: 'jwk' });
  } catch (e: unknown) {
    throw new AppError(PUSH_AUTH_CERTS_UNAVAILABLE, `token signing key ${kid} could not be read: ${errorMessage(e)}`, {
      retryable: true,
      cause: e,
    });
  }
  return key.asymmetricKeyType === 'rsa' ? key : undefined;
}

/** The kid for the log line, when it looks like a key id (Google's are 40 hex digits), not arbitrary input. */
function plainKid(kid: string): Record<string, string> {
  return /^[A-Za-z0-9_-]{1,128}$/.test(kid) ? { kid } : {};
}

/** The token's email for the log line when it is a service account's, never a person's address. */
function serviceAccountField(email: string | undefined): Record<string, string> {
  return email !== undefined && email.endsWith('.gserviceaccount.com') ? { tokenEmail: email } : {};
}
