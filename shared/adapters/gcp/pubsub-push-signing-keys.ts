import { createPublicKey, type JsonWebKey, type KeyObject } from 'node:crypto';
import { OAuth2Client, type Certificates } from 'google-auth-library';
import { AppError, errorMessage } from '../../errors';

/**
 * Token signing keys by key id (`kid`): PEM (X.509 certificates or SPKI public keys) or JWKs, the
 * two shapes `OAuth2Client.getFederatedSignonCertsAsync` returns.
 */
export type SigningKeys = Readonly<Record<string, string | JsonWebKey>>;

/** Fetches the current signing keys; rejects when they cannot be had (network, a bad response). */
export type CertsProvider = () => Promise<SigningKeys>;

/** The code of the (retryable) error thrown when the signing keys cannot be fetched or read. */
export const PUSH_AUTH_CERTS_UNAVAILABLE = 'PUSH_AUTH.CERTS_UNAVAILABLE';

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

/** The RSA key for `kid` among `keys`, undefined when there is none usable; see `rsaKeyReader`. */
export type RsaKeyLookup = (keys: SigningKeys, kid: string) => KeyObject | undefined;

/**
 * Reads the provider's keys into KeyObjects once per key set (by identity, which
 * `googleSigningKeys` keeps while its cache is fresh), so a steady stream of pushes parses no PEM.
 * Throws a retryable AppError (PUSH_AUTH_CERTS_UNAVAILABLE) when the provider's key is unreadable.
 */
export function rsaKeyReader(): RsaKeyLookup {
  const parsedBySet = new WeakMap<SigningKeys, Map<string, KeyObject | undefined>>();
  return (keys, kid) => {
    // hasOwn, not `in` or keys[kid]: a kid such as "constructor" must not reach Object.prototype.
    if (!Object.hasOwn(keys, kid)) return undefined;
    let parsed = parsedBySet.get(keys);
    if (parsed === undefined) {
      parsed = new Map();
      parsedBySet.set(keys, parsed);
    }
    if (!parsed.has(kid)) parsed.set(kid, toRsaKey(keys[kid], kid));
    return parsed.get(kid);
  };
}

const RS256_MIN_MODULUS_BITS = 2048;

/**
 * The provider's key as an RSA public key; undefined for a key of another type or an RSA key under
 * 2048 bits (RFC 7518 §3.3 forbids those for RS256, and jose will not verify with one): it cannot
 * have signed a token we accept. A key that cannot be parsed at all is the provider's fault, not
 * the sender's: thrown as retryable.
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
  const bits = key.asymmetricKeyDetails?.modulusLength ?? 0;
  return key.asymmetricKeyType === 'rsa' && bits >= RS256_MIN_MODULUS_BITS ? key : undefined;
}
