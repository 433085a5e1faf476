import { sourceSchema } from '@changefeed/shared/config';
import { createSourceClient, SourceError, type HttpSourceClient } from '@changefeed/shared/source';
import { OAuth2Server, ProtectedApi, type OAuth2ClientSpec } from '../support/oauth2-servers';
import { captureLog, FakeClock, type CapturedLog } from '../support/source-fakes';

const RESOURCE = 'https://orders.example.test';
const BASIC_CLIENT: OAuth2ClientSpec = {
  client_id: 'changefeed-poller',
  client_secret: 'poller-secret-4f1c9a7e2b',
  grant_types: ['client_credentials'],
  scope: 'orders:read',
};
const POST_CLIENT: OAuth2ClientSpec = {
  client_id: 'changefeed-post',
  client_secret: 'post-secret-8d3e5b1a6c',
  grant_types: ['client_credentials'],
  token_endpoint_auth_method: 'client_secret_post',
  scope: 'orders:read',
};
const API_CLIENT: OAuth2ClientSpec = { client_id: 'orders-api', client_secret: 'api-secret-2a7c', grant_types: [] };
const TOKEN_TTL_SECONDS = 600;

describe('oauth2ClientCredentials against a real authorization server (node-oidc-provider)', () => {
  const authServer = new OAuth2Server({
    clients: [BASIC_CLIENT, POST_CLIENT, API_CLIENT],
    scopes: ['orders:read', 'orders:write'],
    tokenTtlSeconds: TOKEN_TTL_SECONDS,
  });
  const api = new ProtectedApi(authServer, API_CLIENT);
  let apiUrl: string;
  let clock: FakeClock;
  let log: CapturedLog;
  const clients: HttpSourceClient[] = [];
  const env = {
    POLLER_ID: BASIC_CLIENT.client_id,
    POLLER_SECRET: BASIC_CLIENT.client_secret,
    POST_ID: POST_CLIENT.client_id,
    POST_SECRET: POST_CLIENT.client_secret,
    WRONG_SECRET: 'not-the-secret-0000',
  };

  const client = (auth: Record<string, unknown>): HttpSourceClient => {
    const source = sourceSchema.parse({
      name: 'orders',
      mode: 'stream',
      request: { url: `${apiUrl}/orders`, recordsPath: 'items', maxAttempts: 1 },
      auth: {
        type: 'oauth2ClientCredentials',
        tokenUrl: authServer.tokenUrl,
        clientIdEnv: 'POLLER_ID',
        clientSecretEnv: 'POLLER_SECRET',
        scopes: ['orders:read'],
        extraParams: { resource: RESOURCE },
        ...auth,
      },
      idField: 'id',
      table: 'orders',
    });
    const c = createSourceClient(source, { env, clock, logger: log.logger, random: () => 0 });
    clients.push(c);
    return c;
  };

  const fetchIds = async (c: HttpSourceClient): Promise<unknown[]> => {
    const ids: unknown[] = [];
    for await (const page of c.fetchPages()) ids.push(...page.records.map((r) => (r as { id: unknown }).id));
    return ids;
  };

  const failureOf = async (c: HttpSourceClient): Promise<SourceError> => {
    try {
      await fetchIds(c);
    } catch (e: unknown) {
      if (e instanceof SourceError) return e;
      throw e;
    }
    throw new Error('expected the fetch to fail');
  };

  /** Neither a client secret nor any token the server issued appears in the log. */
  const expectNoSecretsLogged = (): void => {
    const text = log.text();
    for (const secret of [BASIC_CLIENT.client_secret, POST_CLIENT.client_secret, env.WRONG_SECRET, ...api.tokens()]) {
      expect(text).not.toContain(secret);
    }
  };

  beforeAll(async () => {
    await authServer.start();
    apiUrl = await api.start();
    api.records = [{ id: 'o-1' }, { id: 'o-2' }];
  }, 30_000);
  beforeEach(() => {
    api.requests.length = 0;
    clock = new FakeClock();
    log = captureLog();
  });
  afterAll(async () => {
    for (const c of clients) c.close();
    await api.stop();
    await authServer.stop();
  });

  it('gets a token with HTTP Basic client authentication, for the scopes and resource asked', async () => {
    expect(await fetchIds(client({}))).toEqual(['o-1', 'o-2']);
    expect(api.requests).toHaveLength(1);
    const [seen] = api.requests;
    expect(seen?.active).toBe(true);
    expect(seen?.introspection).toMatchObject({
      client_id: BASIC_CLIENT.client_id,
      scope: 'orders:read',
      aud: RESOURCE,
    });
    expect(log.lines.filter((l) => l['message'] === 'source auth token obtained')).toEqual([
      expect.objectContaining({ expiresInSeconds: TOKEN_TTL_SECONDS }),
    ]);
    expectNoSecretsLogged();
  });

  it('gets a token with client_secret_post', async () => {
    const c = client({ clientIdEnv: 'POST_ID', clientSecretEnv: 'POST_SECRET', clientAuthentication: 'post' });
    expect(await fetchIds(c)).toEqual(['o-1', 'o-2']);
    expect(api.requests[0]?.introspection).toMatchObject({ client_id: POST_CLIENT.client_id });
  });

  it('reuses the token until shortly before it expires, then gets a new one', async () => {
    const c = client({ refreshBefore: '60s' });
    await fetchIds(c);
    clock.advance((TOKEN_TTL_SECONDS - 61) * 1000);
    await fetchIds(c);
    expect(api.tokens()).toHaveLength(1);
    clock.advance(2000);
    await fetchIds(c);
    expect(api.tokens()).toHaveLength(2);
    expect(api.requests.every((r) => r.active)).toBe(true);
  });

  it('requests running together share one token request', async () => {
    const c = client({});
    const results = await Promise.all([fetchIds(c), fetchIds(c), fetchIds(c)]);
    expect(results).toEqual([
      ['o-1', 'o-2'],
      ['o-1', 'o-2'],
      ['o-1', 'o-2'],
    ]);
    expect(api.tokens()).toHaveLength(1);
  });

  it('a token revoked before its expiry is answered 401, replaced once, and the request sent again', async () => {
    const c = client({});
    await fetchIds(c);
    const [first] = api.tokens();
    await authServer.revoke(first!, BASIC_CLIENT);
    expect(await fetchIds(c)).toEqual(['o-1', 'o-2']);
    expect(api.requests.map((r) => r.active)).toEqual([true, false, true]);
    expect(api.tokens()).toHaveLength(2);
    expect(log.lines.filter((l) => l['message'] === 'source refused the credentials, renewed them')).toHaveLength(1);
    expectNoSecretsLogged();
  });

  it('a wrong secret fails with SOURCE.TOKEN_REQUEST naming the server’s error, not retryable, secret not shown', async () => {
    const error = await failureOf(client({ clientSecretEnv: 'WRONG_SECRET' }));
    expect(error.code).toBe('SOURCE.TOKEN_REQUEST');
    expect(error.retryable).toBe(false);
    expect(error.message).toContain('source "orders": auth.tokenUrl');
    expect(error.message).toContain('invalid_client');
    expect(JSON.stringify({ message: error.message, details: error.details })).not.toContain(env.WRONG_SECRET);
    expect(api.requests).toHaveLength(0);
    expectNoSecretsLogged();
  });

  it('a scope the client may not have fails with invalid_scope', async () => {
    const error = await failureOf(client({ scopes: ['orders:write'] }));
    expect(error.code).toBe('SOURCE.TOKEN_REQUEST');
    expect(error.message).toContain('invalid_scope');
  });

  it('an unreachable token endpoint fails retryably', async () => {
    const error = await failureOf(client({ tokenUrl: 'http://127.0.0.1:1/token' }));
    expect(error.code).toBe('SOURCE.TOKEN_REQUEST');
    expect(error.retryable).toBe(true);
    expect(error.message).toContain('ECONNREFUSED');
  });

  it('an unset client secret variable fails at creation with SOURCE.MISSING_CREDENTIAL', () => {
    expect(() => client({ clientSecretEnv: 'NOT_SET_ANYWHERE' })).toThrow(
      expect.objectContaining({ code: 'SOURCE.MISSING_CREDENTIAL' }) as Error,
    );
  });
});
