import { authError, authFor } from './auth-for';

describe('auth bearer', () => {
  it('an Authorization header from the named variable', async () => {
    const auth = authFor({ type: 'bearer', tokenEnv: 'TOK' }, { TOK: 's3cret' });
    await expect(auth.credentials()).resolves.toEqual({ headers: { Authorization: 'Bearer s3cret' }, query: {} });
    expect(auth.secretQueryParams).toEqual([]);
  });

  it('an unset variable fails at creation, naming the key and the variable', () => {
    const error = authError({ type: 'bearer', tokenEnv: 'CARTS_TOKEN' }, {});
    expect([error.code, error.retryable, error.message]).toEqual([
      'SOURCE.MISSING_CREDENTIAL',
      false,
      'source "carts": auth.tokenEnv names the environment variable CARTS_TOKEN, which is not set',
    ]);
  });
});
