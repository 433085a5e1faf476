import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { OAuth2Client } from 'google-auth-library';
import request from 'supertest';
import { buildLoaderApp, type Authenticate, type LoaderApp } from '@changefeed/loader';
import {
  createPushAuthenticator,
  googleSigningKeys,
  PUSH_AUTH_CERTS_UNAVAILABLE,
  PUSH_TOKEN_CLOCK_SKEW_MS,
  PushAuthReason,
  type CertsProvider,
  type SigningKeys,
} from '@changefeed/shared/adapters/gcp';
import { loaderSchema, pushAuthSchema, type PushAuthConfig } from '@changefeed/shared/config';
import { AppError } from '@changefeed/shared/errors';
import { cartChange, FakeRowSink, pushBodyFor } from '../../support/loader-fakes';
import { captureLog, FakeClock, type CapturedLog } from '../../support/source-fakes';
import {
  createTestSigner,
  pushClaims,
  PUSH_AUDIENCE,
  PUSH_SERVICE_ACCOUNT,
  signHs256,
  unsignedToken,
  withTamperedClaims,
  type JsonObject,
} from '../../support/jwt-signing';

const NOW = new Date('2026-11-23T10:00:00.000Z');
const MINUTE = 60_000;
const signer = createTestSigner('key-2026-11');
const otherSigner = createTestSigner('key-2026-11');

const config: PushAuthConfig = pushAuthSchema.parse({
  audience: PUSH_AUDIENCE,
  serviceAccountEmail: PUSH_SERVICE_ACCOUNT,
});

/** A provider of fixed keys that counts how often it was asked. */
function fixedKeys(keys: SigningKeys): CertsProvider & { calls: number } {
  const provider = Object.assign(
    () => {
      provider.calls++;
      return Promise.resolve(keys);
    },
    { calls: 0 },
  );
  return provider;
}

interface Subject {
  readonly authenticate: ReturnType<typeof createPushAuthenticator>;
  readonly certs: CertsProvider & { calls: number };
  readonly clock: FakeClock;
  readonly log: CapturedLog;
}

function subject(keys: SigningKeys = signer.pemKeys()): Subject {
  const certs = fixedKeys(keys);
  const clock = new FakeClock(NOW.toISOString());
  const log = captureLog('loader');
  const authenticate = createPushAuthenticator(config, { logger: log.logger, clock, certs });
  return { authenticate, certs, clock, log };
}

/** A token Pub/Sub would send at NOW, with `overrides` in its claims. */
function pushToken(overrides: JsonObject = {}): string {
  return signer.sign(pushClaims(NOW, overrides));
}

function bearer(token: string): { authorization: string } {
  return { authorization: `Bearer ${token}` };
}

/** What `promise` rejected with; undefined if it resolved. */
function rejectionOf(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => undefined,
    (e: unknown) => e,
  );
}

function warnLines(log: CapturedLog): Record<string, unknown>[] {
  return log.lines.filter((l) => l['severity'] === 'WARNING');
}

describe('createPushAuthenticator', () => {
  it('accepts the token Pub/Sub sends for the configured audience and service account', async () => {
    const { authenticate, log } = subject();

    await expect(authenticate(bearer(pushToken()))).resolves.toEqual({ ok: true });
    expect(warnLines(log)).toEqual([]);
  });

  it('accepts keys in JWK form as well as PEM, the two formats google-auth-library returns', async () => {
    const { authenticate } = subject(signer.jwkKeys());

    await expect(authenticate(bearer(pushToken()))).resolves.toEqual({ ok: true });
  });

  it('accepts both issuer spellings Google uses by default', async () => {
    const { authenticate } = subject();

    await expect(authenticate(bearer(pushToken({ iss: 'accounts.google.com' })))).resolves.toEqual({ ok: true });
    await expect(authenticate(bearer(pushToken({ iss: 'https://accounts.google.com' })))).resolves.toEqual({
      ok: true,
    });
  });

  it('reads the scheme case-insensitively', async () => {
    const { authenticate } = subject();

    await expect(authenticate({ authorization: `bearer ${pushToken()}` })).resolves.toEqual({ ok: true });
  });

  describe('refuses, before fetching any key', () => {
    it.each([
      ['no Authorization header', PushAuthReason.missingToken, undefined],
      ['another scheme', PushAuthReason.missingToken, 'Basic dXNlcjpwYXNz'],
      ['an empty bearer token', PushAuthReason.missingToken, 'Bearer '],
      ['a token that is not a JWS', PushAuthReason.malformedToken, 'Bearer abc'],
      ['a header that is not JSON', PushAuthReason.malformedToken, 'Bearer bm90IGpzb24.e30.c2ln'],
      ['a segment that is not base64url', PushAuthReason.malformedToken, 'Bearer ey+/.e30.c2ln'],
      ['alg: none (empty signature)', PushAuthReason.malformedToken, `Bearer ${unsignedToken(pushClaims(NOW))}`],
    ] as const)('%s with 401 %s', async (_what, reason, authorization) => {
      const { authenticate, certs, log } = subject();

      await expect(authenticate({ authorization })).resolves.toEqual({ ok: false, status: 401 });

      expect(certs.calls).toBe(0);
      expect(warnLines(log).map((l) => l['reason'])).toEqual([reason]);
    });

    it('alg: none even with a signature segment, as an unsupported algorithm', async () => {
      const { authenticate, certs, log } = subject();
      const token = `${unsignedToken(pushClaims(NOW))}c2ln`;

      await expect(authenticate(bearer(token))).resolves.toEqual({ ok: false, status: 401 });

      expect(certs.calls).toBe(0);
      expect(warnLines(log).map((l) => l['reason'])).toEqual([PushAuthReason.unsupportedAlgorithm]);
    });

    it('HS256 signed with the public key as the secret (the key-confusion attack)', async () => {
      const { authenticate, certs, log } = subject();
      const token = signHs256(signer.publicKeyPem, pushClaims(NOW), { kid: signer.kid });

      await expect(authenticate(bearer(token))).resolves.toEqual({ ok: false, status: 401 });

      expect(certs.calls).toBe(0);
      expect(warnLines(log).map((l) => l['reason'])).toEqual([PushAuthReason.unsupportedAlgorithm]);
    });

    it.each(['RS512', 'PS256', 'ES256', 'rs256'])('alg %s, though the key could verify some of them', async (alg) => {
      const { authenticate, certs } = subject();

      await expect(authenticate(bearer(signer.sign(pushClaims(NOW), { alg })))).resolves.toEqual({
        ok: false,
        status: 401,
      });
      expect(certs.calls).toBe(0);
    });

    it('a header with critical extensions it does not implement', async () => {
      const { authenticate, certs } = subject();

      await expect(authenticate(bearer(signer.sign(pushClaims(NOW), { crit: ['exp'] })))).resolves.toEqual({
        ok: false,
        status: 401,
      });
      expect(certs.calls).toBe(0);
    });
  });

  describe('refuses with 401 a token not validly signed', () => {
    it('when the payload was changed after signing', async () => {
      const { authenticate, log } = subject();
      const token = withTamperedClaims(pushToken({ email: 'someone-else@evil.iam.gserviceaccount.com' }), (c) => ({
        ...c,
        email: PUSH_SERVICE_ACCOUNT,
      }));

      await expect(authenticate(bearer(token))).resolves.toEqual({ ok: false, status: 401 });
      expect(warnLines(log).map((l) => l['reason'])).toEqual([PushAuthReason.badSignature]);
    });

    it('when another key signed it under a known kid', async () => {
      const { authenticate, log } = subject();

      await expect(authenticate(bearer(otherSigner.sign(pushClaims(NOW))))).resolves.toEqual({
        ok: false,
        status: 401,
      });
      expect(warnLines(log).map((l) => l['reason'])).toEqual([PushAuthReason.badSignature]);
    });

    it('when its kid is not among the signing keys', async () => {
      const { authenticate, log } = subject();

      await expect(authenticate(bearer(signer.sign(pushClaims(NOW), { kid: 'retired-key' })))).resolves.toEqual({
        ok: false,
        status: 401,
      });
      expect(warnLines(log)).toEqual([
        expect.objectContaining({ reason: PushAuthReason.unknownKey, kid: 'retired-key', status: 401 }),
      ]);
    });

    it.each(['constructor', '__proto__', 'toString', 'hasOwnProperty'])(
      'when its kid is %s (an Object.prototype name, not a key: 401, not a 503 loop)',
      async (kid) => {
        const { authenticate, log } = subject();

        await expect(authenticate(bearer(signer.sign(pushClaims(NOW), { kid })))).resolves.toEqual({
          ok: false,
          status: 401,
        });
        expect(warnLines(log).map((l) => l['reason'])).toEqual([PushAuthReason.unknownKey]);
      },
    );

    it('when it has no kid', async () => {
      const { authenticate } = subject();
      const token = signer.sign(pushClaims(NOW), { kid: undefined });

      await expect(authenticate(bearer(token))).resolves.toEqual({ ok: false, status: 401 });
    });
  });

  describe('checks the claims of a validly signed token', () => {
    it.each([
      ['another audience', 401, PushAuthReason.wrongAudience, { aud: 'https://other-service.a.run.app' }],
      ['an audience list', 401, PushAuthReason.malformedToken, { aud: [PUSH_AUDIENCE] }],
      ['an untrusted issuer', 401, PushAuthReason.wrongIssuer, { iss: 'https://evil.example.com' }],
      ['no exp', 401, PushAuthReason.malformedToken, { exp: undefined }],
      ['a string exp', 401, PushAuthReason.malformedToken, { exp: '1795428000' }],
      ['another service account', 403, PushAuthReason.wrongEmail, { email: 'intruder@x.iam.gserviceaccount.com' }],
      ['no email', 403, PushAuthReason.wrongEmail, { email: undefined }],
      ['email_verified false', 403, PushAuthReason.emailNotVerified, { email_verified: false }],
      ['email_verified "true" (a string)', 403, PushAuthReason.emailNotVerified, { email_verified: 'true' }],
      ['no email_verified', 403, PushAuthReason.emailNotVerified, { email_verified: undefined }],
    ] as const)('%s: %i %s', async (_what, status, reason, overrides) => {
      const { authenticate, log } = subject();

      await expect(authenticate(bearer(pushToken(overrides)))).resolves.toEqual({ ok: false, status });
      expect(warnLines(log)).toEqual([expect.objectContaining({ reason, status })]);
    });

    it('logs the audience and issuer it got, so a misconfigured subscription is easy to spot', async () => {
      const { authenticate, log } = subject();

      await authenticate(bearer(pushToken({ aud: 'https://other.a.run.app' })));
      await authenticate(bearer(pushToken({ iss: 'https://evil.example.com' })));

      expect(warnLines(log)).toEqual([
        expect.objectContaining({ tokenAudience: 'https://other.a.run.app' }),
        expect.objectContaining({ tokenIssuer: 'https://evil.example.com' }),
      ]);
    });

    it("logs another service account's email, but never a person's", async () => {
      const { authenticate, log } = subject();

      await authenticate(bearer(pushToken({ email: 'other@p.iam.gserviceaccount.com' })));
      await authenticate(bearer(pushToken({ email: 'alice@example.com' })));

      const [serviceAccount, person] = warnLines(log);
      expect(serviceAccount).toEqual(expect.objectContaining({ tokenEmail: 'other@p.iam.gserviceaccount.com' }));
      expect(person).not.toHaveProperty('tokenEmail');
      expect(log.text()).not.toContain('alice@example.com');
    });
  });

  describe('checks the lifetime against the injected clock, allowing PUSH_TOKEN_CLOCK_SKEW_MS', () => {
    const issuedAt = new Date(NOW.getTime() - 60 * MINUTE);
    const expiresAtMs = issuedAt.getTime() + 60 * MINUTE;

    it('accepts a token up to the skew past its exp', async () => {
      const { authenticate, clock } = subject();
      const token = signer.sign(pushClaims(issuedAt));
      clock.advance(expiresAtMs + PUSH_TOKEN_CLOCK_SKEW_MS - clock.now().getTime());

      await expect(authenticate(bearer(token))).resolves.toEqual({ ok: true });
    });

    it('refuses an expired token with 401 PUSH_AUTH.EXPIRED', async () => {
      const { authenticate, clock, log } = subject();
      const token = signer.sign(pushClaims(issuedAt));
      clock.advance(expiresAtMs + PUSH_TOKEN_CLOCK_SKEW_MS + 1000 - clock.now().getTime());

      await expect(authenticate(bearer(token))).resolves.toEqual({ ok: false, status: 401 });
      expect(warnLines(log).map((l) => l['reason'])).toEqual([PushAuthReason.expired]);
    });

    it('refuses a token issued further in the future than the skew', async () => {
      const { authenticate, log } = subject();
      const future = new Date(NOW.getTime() + PUSH_TOKEN_CLOCK_SKEW_MS + 1000);

      await expect(authenticate(bearer(signer.sign(pushClaims(future))))).resolves.toEqual({
        ok: false,
        status: 401,
      });
      expect(warnLines(log).map((l) => l['reason'])).toEqual([PushAuthReason.notYetValid]);
    });

    it('accepts a token issued within the skew ahead of our clock', async () => {
      const { authenticate } = subject();
      const slightlyAhead = new Date(NOW.getTime() + PUSH_TOKEN_CLOCK_SKEW_MS - 1000);

      await expect(authenticate(bearer(signer.sign(pushClaims(slightlyAhead))))).resolves.toEqual({ ok: true });
    });

    it('refuses a token whose nbf is still ahead', async () => {
      const { authenticate } = subject();
      const nbf = Math.floor(NOW.getTime() / 1000) + 600;

      await expect(authenticate(bearer(pushToken({ nbf })))).resolves.toEqual({ ok: false, status: 401 });
    });

    it('refuses a token that claims to live for more than a day', async () => {
      const { authenticate, log } = subject();
      const exp = Math.floor(NOW.getTime() / 1000) + 2 * 24 * 3600;

      await expect(authenticate(bearer(pushToken({ exp })))).resolves.toEqual({ ok: false, status: 401 });
      expect(warnLines(log).map((l) => l['reason'])).toEqual([PushAuthReason.tooLongLived]);
    });
  });

  it('logs one warn line per refusal and never the token', async () => {
    const { authenticate, log } = subject();
    const token = pushToken({ aud: 'https://other.a.run.app' });
    const [, payload, signature] = token.split('.');

    await authenticate(bearer(token));

    expect(warnLines(log)).toHaveLength(1);
    expect(log.lines).toHaveLength(1);
    expect(log.text()).not.toContain(signature);
    expect(log.text()).not.toContain(payload);
  });

  it('rejects with a retryable AppError, naming no token, when the signing keys cannot be fetched', async () => {
    const log = captureLog('loader');
    const authenticate = createPushAuthenticator(config, {
      logger: log.logger,
      clock: new FakeClock(NOW.toISOString()),
      certs: () => Promise.reject(new Error('getaddrinfo EAI_AGAIN www.googleapis.com')),
    });
    const token = pushToken();

    const error = await rejectionOf(authenticate(bearer(token)));

    expect(error).toBeInstanceOf(AppError);
    expect(error).toMatchObject({ code: PUSH_AUTH_CERTS_UNAVAILABLE, retryable: true });
    expect((error as AppError).message).toContain('EAI_AGAIN');
    expect((error as AppError).message).not.toContain(token.split('.')[2]);
  });

  it('rejects with a retryable AppError when a signing key cannot be parsed', async () => {
    const { authenticate } = subject({ [signer.kid]: '-----BEGIN CERTIFICATE-----\ngarbage\n' });

    await expect(authenticate(bearer(pushToken()))).rejects.toMatchObject({
      code: PUSH_AUTH_CERTS_UNAVAILABLE,
      retryable: true,
    });
  });
});

describe('the test signer', () => {
  it("makes tokens and keys that google-auth-library's own verifier accepts", async () => {
    // The library reads the wall clock, so this one token is issued now rather than at NOW.
    const token = signer.sign(pushClaims(new Date()));

    const ticket = await new OAuth2Client().verifySignedJwtWithCertsAsync(token, signer.pemKeys(), PUSH_AUDIENCE, [
      'https://accounts.google.com',
    ]);

    expect(ticket.getPayload()?.email).toBe(PUSH_SERVICE_ACCOUNT);
  });
});

/**
 * An OAuth2Client whose certs URL is `url`. gaxios loads node-fetch with a dynamic import(), which
 * jest's CommonJS runtime refuses; Node's own fetch does the same real HTTP request.
 */
function certsClient(url: string): OAuth2Client {
  return new OAuth2Client({
    endpoints: { oauth2FederatedSignonPemCertsUrl: url },
    transporterOptions: { fetchImplementation: fetch },
  });
}

/** A stand-in for https://www.googleapis.com/oauth2/v1/certs on loopback, counting requests. */
async function startCertsServer(
  respond: () => { status: number; body: unknown; cacheControl?: string },
): Promise<{ url: string; requests: () => number; close: () => Promise<void> }> {
  let count = 0;
  const server: Server = createServer((_req, res) => {
    count++;
    const { status, body, cacheControl } = respond();
    res.writeHead(status, {
      'content-type': 'application/json',
      ...(cacheControl === undefined ? {} : { 'cache-control': cacheControl }),
    });
    res.end(JSON.stringify(body));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/oauth2/v1/certs`,
    requests: () => count,
    close: () => new Promise<void>((resolve, reject) => server.close((e) => (e ? reject(e) : resolve()))),
  };
}

describe('googleSigningKeys (google-auth-library against a local certs endpoint)', () => {
  it('fetches once for concurrent callers and then serves from the cache Cache-Control allows', async () => {
    const certsServer = await startCertsServer(() => ({
      status: 200,
      body: signer.pemKeys(),
      cacheControl: 'public, max-age=3600, must-revalidate, no-transform',
    }));
    try {
      const client = certsClient(certsServer.url);
      const log = captureLog('loader');
      const authenticate = createPushAuthenticator(config, {
        logger: log.logger,
        clock: new FakeClock(NOW.toISOString()),
        certs: googleSigningKeys(client),
      });

      const first = await Promise.all([1, 2, 3].map(() => authenticate(bearer(pushToken()))));
      const later = await authenticate(bearer(pushToken()));

      expect(first).toEqual([{ ok: true }, { ok: true }, { ok: true }]);
      expect(later).toEqual({ ok: true });
      expect(certsServer.requests()).toBe(1);
    } finally {
      await certsServer.close();
    }
  });

  it('turns a failed fetch into a retryable AppError', async () => {
    // 404 rather than 5xx: gaxios retries 5xx with backoff, which would only slow the test down.
    const certsServer = await startCertsServer(() => ({ status: 404, body: { error: 'not found' } }));
    try {
      const client = certsClient(certsServer.url);
      const authenticate = createPushAuthenticator(config, {
        logger: captureLog('loader').logger,
        clock: new FakeClock(NOW.toISOString()),
        certs: googleSigningKeys(client),
      });

      const error = await rejectionOf(authenticate(bearer(pushToken())));

      expect(error).toBeInstanceOf(AppError);
      expect(error).toMatchObject({ code: PUSH_AUTH_CERTS_UNAVAILABLE, retryable: true });
      expect((error as AppError).cause).toMatchObject({ status: 404 });
      expect(certsServer.requests()).toBe(1);
    } finally {
      await certsServer.close();
    }
  });
});

describe('POST /pubsub/push with the push authenticator', () => {
  const loaders: LoaderApp[] = [];

  afterEach(async () => {
    await Promise.all(loaders.splice(0).map((l) => l.close()));
  });

  function startLoader(certs: CertsProvider = () => Promise.resolve(signer.pemKeys())): {
    sink: FakeRowSink;
    push: (authorization?: string) => request.Test;
  } {
    const sink = new FakeRowSink();
    const clock = new FakeClock(NOW.toISOString());
    const log = captureLog('loader');
    // Assigned to the loader's own hook type: the adapter's type has the same shape.
    const authenticate: Authenticate = createPushAuthenticator(config, { logger: log.logger, clock, certs });
    const loader = buildLoaderApp({
      rowSink: sink,
      logger: log.logger,
      clock,
      config: loaderSchema.parse({ groupCommitMaxDelay: 0 }),
      authenticate,
    });
    loaders.push(loader);
    return {
      sink,
      push: (authorization) => {
        const req = request(loader.app).post('/pubsub/push').set('content-type', 'application/json');
        if (authorization !== undefined) req.set('authorization', authorization);
        return req.send(JSON.stringify(pushBodyFor(cartChange(7))));
      },
    };
  }

  it('processes a push with a valid token: 204 and the row is written', async () => {
    const { push, sink } = startLoader();

    await push(`Bearer ${pushToken()}`).expect(204);

    expect(sink.rowsOf('carts')).toHaveLength(1);
  });

  const expiredToken = signer.sign(pushClaims(new Date(NOW.getTime() - 2 * 60 * MINUTE)));
  it.each([
    ['no Authorization header', 401, undefined],
    ['an expired token', 401, `Bearer ${expiredToken}`],
    ['a token for another audience', 401, `Bearer ${pushToken({ aud: 'https://other.a.run.app' })}`],
    ['a token from another issuer', 401, `Bearer ${pushToken({ iss: 'https://evil.example.com' })}`],
    ['a token for another service account', 403, `Bearer ${pushToken({ email: 'x@y.iam.gserviceaccount.com' })}`],
    ['a token whose email is not verified', 403, `Bearer ${pushToken({ email_verified: false })}`],
    ['an alg: none token', 401, `Bearer ${unsignedToken(pushClaims(NOW), { kid: signer.kid })}c2ln`],
    [
      'an HS256 token signed with the public key',
      401,
      `Bearer ${signHs256(signer.publicKeyPem, pushClaims(NOW), { kid: signer.kid })}`,
    ],
    [
      'a tampered payload',
      401,
      `Bearer ${withTamperedClaims(pushToken({ aud: 'https://other.a.run.app' }), (c) => ({ ...c, aud: PUSH_AUDIENCE }))}`,
    ],
    ['a token signed under an unknown kid', 401, `Bearer ${signer.sign(pushClaims(NOW), { kid: 'unknown' })}`],
  ] as const)('refuses %s with %i, no detail, and writes nothing', async (_what, status, authorization) => {
    const { push, sink } = startLoader();

    const res = await push(authorization);

    expect(res.status).toBe(status);
    expect(res.text).toBe('');
    if (status === 401) expect(res.headers['www-authenticate']).toBe('Bearer');
    expect(sink.appendsStarted).toBe(0);
  });

  it('answers 503 and writes nothing when the signing keys cannot be fetched, so Pub/Sub redelivers', async () => {
    const { push, sink } = startLoader(() => Promise.reject(new Error('connect ETIMEDOUT 142.250.0.1:443')));

    const res = await push(`Bearer ${pushToken()}`);

    expect(res.status).toBe(503);
    expect(sink.appendsStarted).toBe(0);
    expect(sink.rejected).toEqual([]);
  });
});
