import { authSchema } from '@changefeed/shared/source';
import { authError, authFor } from './auth-for';

describe('auth apiKey', () => {
  const env = { KEY: 'k-123' };

  it('in a header by default', async () => {
    const auth = authFor({ type: 'apiKey', name: 'X-Api-Key', valueEnv: 'KEY' }, env);
    await expect(auth.credentials()).resolves.toEqual({ headers: { 'X-Api-Key': 'k-123' }, query: {} });
    expect(auth.secretQueryParams).toEqual([]);
  });

  it('in the query, then marked secret for redaction', async () => {
    const auth = authFor({ type: 'apiKey', in: 'query', name: 'appid', valueEnv: 'KEY' }, env);
    await expect(auth.credentials()).resolves.toEqual({ headers: {}, query: { appid: 'k-123' } });
    expect(auth.secretQueryParams).toEqual(['appid']);
  });

  it('refuses another place than header or query, and an empty name', () => {
    expect(authSchema.safeParse({ type: 'apiKey', in: 'cookie', name: 'k', valueEnv: 'KEY' }).success).toBe(false);
    expect(authSchema.safeParse({ type: 'apiKey', name: '', valueEnv: 'KEY' }).success).toBe(false);
  });

  it('an empty variable fails at creation', () => {
    const error = authError({ type: 'apiKey', name: 'X-Api-Key', valueEnv: 'KEY' }, { KEY: '' });
    expect(error.message).toBe('source "carts": auth.valueEnv names the environment variable KEY, which is not set');
  });
});
