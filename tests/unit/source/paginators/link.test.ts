import { pageResponse, paginatorFor } from './page-response';

describe('pagination link', () => {
  it('follows rel="next", resolving a relative target against the page URL', () => {
    const p = paginatorFor({ type: 'link' });
    const first = p.first();
    expect(first).toEqual({ query: {} });
    const next = p.next(
      pageResponse(first, 5, {
        headers: { link: '</items?page=2>; rel="next"' },
        url: 'http://api.test/v1/items?page=1',
      }),
    );
    expect(next).toEqual([{ url: 'http://api.test/items?page=2', query: {} }]);
  });

  it('stops without a Link header or without a next link in it', () => {
    const p = paginatorFor({ type: 'link' });
    const first = p.first();
    expect(
      p.next(pageResponse(first, 5, { headers: { link: '<http://api.test/items?page=1>; rel="first"' } })),
    ).toEqual([]);
    expect(p.next(pageResponse(first, 5))).toEqual([]);
  });
});
