import { paginationSchema } from '@changefeed/shared/source';
import { onlyNext, pageResponse, paginatorFor } from './page-response';

describe('pagination page', () => {
  it('starts at firstPage, sends the size when sizeParam is set, stops on a short page', () => {
    const p = paginatorFor({ type: 'page', firstPage: 0, sizeParam: 'per_page', size: 3 });
    const first = p.first();
    expect(first).toEqual({ query: { page: '0', per_page: '3' } });
    const second = onlyNext(p.next(pageResponse(first, 3)));
    expect(second).toEqual({ query: { page: '1', per_page: '3' } });
    expect(p.next(pageResponse(second, 2))).toEqual([]);
    expect(p.next(pageResponse(second, 0))).toEqual([]);
  });

  it('without sizeParam only the page number is sent', () => {
    const p = paginatorFor({ type: 'page', size: 3 });
    expect(p.first()).toEqual({ query: { page: '1' } });
  });

  it('refuses a negative first page', () => {
    expect(paginationSchema.safeParse({ type: 'page', firstPage: -1 }).success).toBe(false);
  });
});
