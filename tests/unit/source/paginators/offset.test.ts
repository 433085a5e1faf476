import { paginationSchema } from '@changefeed/shared/source';
import { onlyNext, pageResponse, paginatorFor } from './page-response';

describe('pagination offset', () => {
  it('advances by the records received and stops on a short page', () => {
    const p = paginatorFor({ type: 'offset', limit: 2, offsetParam: 'skip', limitParam: 'take' });
    const first = p.first();
    expect(first).toEqual({ query: { skip: '0', take: '2' } });
    const second = onlyNext(p.next(pageResponse(first, 2)));
    expect(second).toEqual({ query: { skip: '2', take: '2' } });
    expect(p.next(pageResponse(second, 1))).toEqual([]);
    expect(p.next(pageResponse(second, 0))).toEqual([]);
  });

  it('advances by what an API that caps the page size sent, not by the limit', () => {
    const p = paginatorFor({ type: 'offset', limit: 2 });
    const second = onlyNext(p.next(pageResponse(p.first(), 3)));
    expect(second).toEqual({ query: { offset: '3', limit: '2' } });
  });

  it('defaults to offset and limit with 100 records a page', () => {
    expect(paginationSchema.parse({ type: 'offset' })).toEqual({
      type: 'offset',
      offsetParam: 'offset',
      limitParam: 'limit',
      limit: 100,
    });
  });
});
