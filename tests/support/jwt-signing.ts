import { createHmac, generateKeyPairSync, sign, type JsonWebKey, type KeyObject } from 'node:crypto';

/**
 * JWTs signed by hand (RFC 7515 compact serialization) with a key made for the test run, so the
 * verifier is exercised with real signatures and nothing about it is mocked.
 */

export type JsonObject = Record<string, unknown>;

/** base64url of the JSON text, as a JWS segment. */
export function segment(value: JsonObject): string {
  return Buffer.from(JSON.stringify(value), 'utf8').toString('base64url');
}

export function decodeSegment(part: string): JsonObject {
  return JSON.parse(Buffer.from(part, 'base64url').toString('utf8')) as JsonObject;
}

/** An RSA key pair with a key id, signing RS256 tokens the way Google signs Pub/Sub's. */
export interface TestSigner {
  readonly kid: string;
  readonly privateKey: KeyObject;
  /** The public key as SPKI PEM: also the "secret" of the HS256 key-confusion attack. */
  readonly publicKeyPem: string;
  /** `{ [kid]: PEM }`: the shape of google-auth-library's certs on Node (its PEM format). */
  pemKeys(): Record<string, string>;
  /** `{ [kid]: JWK }`: the library's other format (Google's /oauth2/v3/certs). */
  jwkKeys(): Record<string, JsonWebKey>;
  /** An RS256 token of `claims`; `header` adds to or overrides `{alg: RS256, kid, typ: JWT}`. */
  sign(claims: JsonObject, header?: JsonObject): string;
}

export function createTestSigner(kid = 'test-key-1'): TestSigner {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const publicKeyPem = publicKey.export({ type: 'spki', format: 'pem' }).toString();
  const jwk = publicKey.export({ format: 'jwk' });
  return {
    kid,
    privateKey,
    publicKeyPem,
    pemKeys: () => ({ [kid]: publicKeyPem }),
    jwkKeys: () => ({ [kid]: { ...jwk, kid, alg: 'RS256', use: 'sig' } }),
    sign: (claims, header = {}) => signRs256(privateKey, { alg: 'RS256', kid, typ: 'JWT', ...header }, claims),
  };
}

/** header.payload.signature with RSASSA-PKCS1-v1_5 SHA-256 over the first two segments. */
export function signRs256(privateKey: KeyObject, header: JsonObject, claims: JsonObject): string {
  const signingInput = `${segment(header)}.${segment(claims)}`;
  const signature = sign('sha256', Buffer.from(signingInput, 'ascii'), privateKey).toString('base64url');
  return `${signingInput}.${signature}`;
}

/** An unsecured JWT (RFC 7519 §6.1): `alg: none` and an empty signature. */
export function unsignedToken(claims: JsonObject, header: JsonObject = {}): string {
  return `${segment({ alg: 'none', typ: 'JWT', ...header })}.${segment(claims)}.`;
}

/** An HS256 token; with the verifier's public key PEM as `secret` it is the classic key-confusion attack. */
export function signHs256(secret: string, claims: JsonObject, header: JsonObject = {}): string {
  const signingInput = `${segment({ alg: 'HS256', typ: 'JWT', ...header })}.${segment(claims)}`;
  const signature = createHmac('sha256', secret).update(signingInput).digest('base64url');
  return `${signingInput}.${signature}`;
}

/** The same token with its claims changed and the original signature kept. */
export function withTamperedClaims(token: string, change: (claims: JsonObject) => JsonObject): string {
  const [header, payload, signature] = token.split('.');
  if (header === undefined || payload === undefined || signature === undefined) throw new Error('not a JWS');
  return `${header}.${segment(change(decodeSegment(payload)))}.${signature}`;
}

export const PUSH_AUDIENCE = 'https://loader-abc123-uc.a.run.app/pubsub/push';
export const PUSH_SERVICE_ACCOUNT = 'pubsub-push@changefeed-test.iam.gserviceaccount.com';

/**
 * The claims Pub/Sub puts in a push token (as on
 * https://cloud.google.com/pubsub/docs/authenticate-push-subscriptions), issued at `issuedAt` and
 * valid for an hour.
 */
export function pushClaims(issuedAt: Date, overrides: JsonObject = {}): JsonObject {
  const iat = Math.floor(issuedAt.getTime() / 1000);
  return {
    aud: PUSH_AUDIENCE,
    azp: '113774264463038321964',
    email: PUSH_SERVICE_ACCOUNT,
    email_verified: true,
    exp: iat + 3600,
    iat,
    iss: 'https://accounts.google.com',
    sub: '113774264463038321964',
    ...overrides,
  };
}
