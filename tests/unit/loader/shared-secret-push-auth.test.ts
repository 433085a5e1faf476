import { bearerHeader, createSharedSecretPushAuthenticator, newPushSecret } from '@changefeed/shared/adapters/local';

describe('the local bus push secret', () => {
  const secret = newPushSecret();
  const authenticate = createSharedSecretPushAuthenticator(secret);

  it('accepts exactly Bearer <secret>', async () => {
    expect(await authenticate({ authorization: bearerHeader(secret) })).toEqual({ ok: true });
  });

  it.each([
    ['no header', undefined],
    ['an empty header', ''],
    ['another secret', bearerHeader(newPushSecret())],
    ['the secret without the scheme', secret],
    ['a prefix of it', bearerHeader(secret.slice(0, -1))],
    ['it with more after', `${bearerHeader(secret)}x`],
  ])('refuses %s with 401', async (_what, authorization) => {
    expect(await authenticate({ authorization })).toEqual({ ok: false, status: 401 });
  });

  it('draws a different 256-bit secret each time', () => {
    const other = newPushSecret();
    expect(other).not.toBe(secret);
    expect(Buffer.from(other, 'base64url')).toHaveLength(32);
  });
});
