import { authSchema } from '@changefeed/shared/config';
import { resolveAuth, SourceError } from '@changefeed/shared/source';

describe('resolveAuth', () => {
  it('bearer: an Authorization header from the named variable', () => {
    const auth = resolveAuth('carts', authSchema.parse({ type: 'bearer', tokenEnv: 'TOK' }), { TOK: 's3cret' });
    expect(auth).toEqual({ headers: { Authorization: 'Bearer s3cret' }, query: {}, secretQueryParams: [] });
  });

  it('apiKey in a header or in the query (then marked secret for redaction)', () => {
    const env = { KEY: 'k-123' };
    expect(resolveAuth('carts', authSchema.parse({ type: 'apiKey', name: 'X-Api-Key', valueEnv: 'KEY' }), env)).toEqual(
      {
        headers: { 'X-Api-Key': 'k-123' },
        query: {},
        secretQueryParams: [],
      },
    );
    expect(
      resolveAuth('carts', authSchema.parse({ type: 'apiKey', in: 'query', name: 'appid', valueEnv: 'KEY' }), env),
    ).toEqual({ headers: {}, query: { appid: 'k-123' }, secretQueryParams: ['appid'] });
  });

  it('basic: base64 of user:password', () => {
    const auth = resolveAuth('carts', authSchema.parse({ type: 'basic', usernameEnv: 'U', passwordEnv: 'P' }), {
      U: 'ada',
      P: 'pä:ss',
    });
    expect(auth.headers).toEqual({ Authorization: `Basic ${Buffer.from('ada:pä:ss').toString('base64')}` });
  });

  it('none adds nothing', () => {
    expect(resolveAuth('carts', { type: 'none' }, {})).toEqual({ headers: {}, query: {}, secretQueryParams: [] });
  });

  it('a missing or empty variable names the source, the config key and the variable', () => {
    const attempt = (env: Record<string, string | undefined>): unknown => {
      try {
        resolveAuth('carts', authSchema.parse({ type: 'basic', usernameEnv: 'U', passwordEnv: 'CARTS_PASSWORD' }), env);
        return undefined;
      } catch (e: unknown) {
        return e;
      }
    };
    for (const env of [{ U: 'ada' }, { U: 'ada', CARTS_PASSWORD: '' }]) {
      const error = attempt(env);
      expect(error).toBeInstanceOf(SourceError);
      expect((error as SourceError).code).toBe('SOURCE.MISSING_CREDENTIAL');
      expect((error as SourceError).retryable).toBe(false);
      expect((error as SourceError).message).toBe(
        'source "carts": auth.passwordEnv names the environment variable CARTS_PASSWORD, which is not set',
      );
    }
  });
});
