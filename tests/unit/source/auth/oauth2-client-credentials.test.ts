import {
  authSchema,
  basicClientCredentials,
  OAuth2TokenCache,
  tokenRequestBody,
  type TokenRequest,
} from '@changefeed/shared/source';
import { captureLog, FakeClock } from '../../../support/source-fakes';
import { authError } from './auth-for';

const base = {
  type: 'oauth2ClientCredentials',
  tokenUrl: 'https://auth.example.com/oauth/token',
  clientIdEnv: 'CLIENT_ID',
  clientSecretEnv: 'CLIENT_SECRET',
};

const request = (overrides: Partial<TokenRequest> = {}): TokenRequest => ({
  sourceName: 'orders',
  tokenUrl: base.tokenUrl,
  clientId: 'id',
  clientSecret: 's3cret',
  clientAuthentication: 'basic',
  scopes: [],
  audience: undefined,
  extraParams: {},
  timeoutMs: 1000,
  ...overrides,
});

describe('auth oauth2ClientCredentials: config', () => {
  const issuesOf = (auth: Record<string, unknown>): string[] => {
    const result = authSchema.safeParse({ ...base, ...auth });
    return result.success ? [] : result.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
  };

  it('takes https anywhere and plain http only to localhost', () => {
    expect(issuesOf({})).toEqual([]);
    expect(issuesOf({ tokenUrl: 'http://127.0.0.1:8080/token' })).toEqual([]);
    expect(issuesOf({ tokenUrl: 'http://localhost/token' })).toEqual([]);
    expect(issuesOf({ tokenUrl: 'http://auth.example.com/token' })).toEqual([
      'tokenUrl: the token URL must be https (plain http only to localhost): the client secret is sent to it, got http://auth.example.com',
    ]);
  });

  it('refuses extra form fields that the other keys set', () => {
    expect(issuesOf({ extraParams: { resource: 'https://api', client_secret: 'x' } })).toEqual([
      'extraParams.client_secret: "client_secret" is set by the other auth keys (scopes, audience, clientIdEnv, clientSecretEnv), not here',
    ]);
  });

  it('refuses a scope with a space, and a secret written in the file', () => {
    expect(issuesOf({ scopes: ['read write'] })).toEqual(['scopes.0: a scope has no spaces or quotes']);
    expect(issuesOf({ clientSecret: 'abc' }).join()).toContain('clientSecret');
  });

  it('an unset secret variable fails at creation, naming it', () => {
    const error = authError(base, { CLIENT_ID: 'id' });
    expect(error.message).toBe(
      'source "carts": auth.clientSecretEnv names the environment variable CLIENT_SECRET, which is not set',
    );
  });
});

describe('auth oauth2ClientCredentials: the token request', () => {
  it('sends the grant, the scopes space-separated, the audience and the extra fields', () => {
    const form = tokenRequestBody(
      request({ scopes: ['a:read', 'b:read'], audience: 'https://api', extraParams: { resource: 'r' } }),
    );
    expect(Object.fromEntries(form)).toEqual({
      grant_type: 'client_credentials',
      scope: 'a:read b:read',
      audience: 'https://api',
      resource: 'r',
    });
  });

  it('puts the client in the form only with post client authentication', () => {
    expect(Object.fromEntries(tokenRequestBody(request({ clientAuthentication: 'post' })))).toEqual({
      grant_type: 'client_credentials',
      client_id: 'id',
      client_secret: 's3cret',
    });
  });

  it('form-encodes the id and secret before Basic-encoding them (RFC 6749 §2.3.1)', () => {
    const header = basicClientCredentials('my client', 'p:ss/word');
    expect(Buffer.from(header.replace(/^Basic /, ''), 'base64').toString()).toBe('my+client:p%3Ass%2Fword');
  });
});

describe('OAuth2TokenCache', () => {
  const tokens = (): {
    issue: () => Promise<{ accessToken: string; expiresInMs: number | undefined }>;
    count: () => number;
  } => {
    let n = 0;
    return {
      issue: () => {
        n += 1;
        return Promise.resolve({ accessToken: `t-${n}`, expiresInMs: 100_000 });
      },
      count: () => n,
    };
  };

  it('replaces a short-lived token at half its lifetime when refreshBefore is longer', async () => {
    const clock = new FakeClock();
    const source = tokens();
    const cache = new OAuth2TokenCache({ ...source, clock, logger: captureLog().logger, refreshBeforeMs: 600_000 });
    await cache.credentials();
    clock.advance(49_999);
    await cache.credentials();
    expect(source.count()).toBe(1);
    clock.advance(1);
    await expect(cache.credentials()).resolves.toEqual({ headers: { Authorization: 'Bearer t-2' }, query: {} });
  });

  it('a 401 for a token already replaced keeps the new one', async () => {
    const clock = new FakeClock();
    const source = tokens();
    const cache = new OAuth2TokenCache({ ...source, clock, logger: captureLog().logger, refreshBeforeMs: 0 });
    const first = await cache.credentials();
    expect(cache.renew(first)).toBe(true);
    const second = await cache.credentials();
    expect(cache.renew(first)).toBe(true);
    await expect(cache.credentials()).resolves.toBe(second);
    expect(source.count()).toBe(2);
  });

  it('a failed token request is not cached: the next call asks again', async () => {
    let calls = 0;
    const cache = new OAuth2TokenCache({
      issue: () => {
        calls += 1;
        return calls === 1
          ? Promise.reject(new Error('down'))
          : Promise.resolve({ accessToken: 'ok', expiresInMs: undefined });
      },
      clock: new FakeClock(),
      logger: captureLog().logger,
      refreshBeforeMs: 0,
    });
    await expect(cache.credentials()).rejects.toThrow('down');
    await expect(cache.credentials()).resolves.toEqual({ headers: { Authorization: 'Bearer ok' }, query: {} });
  });
});
