import { pageResponse, paginatorFor } from './page-response';

describe('pagination none', () => {
  it('sends one request and stops after it, however full the page', () => {
    const p = paginatorFor({ type: 'none' });
    const first = p.first();
    expect(first).toEqual({ query: {} });
    expect(p.next(pageResponse(first, 100))).toEqual([]);
  });
});
