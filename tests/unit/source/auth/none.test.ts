import { authFor } from './auth-for';

describe('auth none', () => {
  it('adds nothing', async () => {
    const auth = authFor({ type: 'none' }, {});
    await expect(auth.credentials()).resolves.toEqual({ headers: {}, query: {} });
    expect(auth.secretQueryParams).toEqual([]);
  });
});
