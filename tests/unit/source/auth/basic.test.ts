import { authError, authFor } from './auth-for';

describe('auth basic', () => {
  it('base64 of user:password in UTF-8', async () => {
    const auth = authFor({ type: 'basic', usernameEnv: 'U', passwordEnv: 'P' }, { U: 'ada', P: 'pä:ss' });
    const { headers } = await auth.credentials();
    expect(headers).toEqual({ Authorization: `Basic ${Buffer.from('ada:pä:ss').toString('base64')}` });
  });

  it('a missing or empty variable names the source, the config key and the variable', () => {
    for (const env of [{ U: 'ada' }, { U: 'ada', CARTS_PASSWORD: '' }]) {
      const error = authError({ type: 'basic', usernameEnv: 'U', passwordEnv: 'CARTS_PASSWORD' }, env);
      expect(error.code).toBe('SOURCE.MISSING_CREDENTIAL');
      expect(error.retryable).toBe(false);
      expect(error.message).toBe(
        'source "carts": auth.passwordEnv names the environment variable CARTS_PASSWORD, which is not set',
      );
    }
  });
});
