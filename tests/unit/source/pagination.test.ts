import { paginationSchema } from '@changefeed/shared/config';
import { createPaginator, nextLink, type PageRequest, type PageResponse } from '@changefeed/shared/source';

const URL_ = 'http://api.test/items';

function response(records: number, extra: Partial<PageResponse> = {}): PageResponse {
  return {
    records: Array.from({ length: records }, (_, i) => ({ id: i })),
    body: {},
    linkHeader: undefined,
    url: URL_,
    ...extra,
  };
}

describe('createPaginator', () => {
  it('none: one page only', () => {
    const p = createPaginator(paginationSchema.parse({ type: 'none' }));
    const first = p.first();
    expect(first).toEqual({ query: {} });
    expect(p.next(first, response(100))).toBeNull();
  });

  it('offset: advances by the records received and stops on a short page', () => {
    const p = createPaginator(
      paginationSchema.parse({ type: 'offset', limit: 2, offsetParam: 'skip', limitParam: 'take' }),
    );
    const first = p.first();
    expect(first).toEqual({ query: { skip: '0', take: '2' } });
    const second = p.next(first, response(2));
    expect(second).toEqual({ query: { skip: '2', take: '2' } });
    expect(p.next(second as PageRequest, response(1))).toBeNull();
    expect(p.next(second as PageRequest, response(0))).toBeNull();
  });

  it('page: starts at firstPage, sends the size when sizeParam is set, stops on a short page', () => {
    const p = createPaginator(paginationSchema.parse({ type: 'page', firstPage: 0, sizeParam: 'per_page', size: 3 }));
    const first = p.first();
    expect(first).toEqual({ query: { page: '0', per_page: '3' } });
    const second = p.next(first, response(3));
    expect(second).toEqual({ query: { page: '1', per_page: '3' } });
    expect(p.next(second as PageRequest, response(2))).toBeNull();
  });

  it('page: without sizeParam only the page number is sent', () => {
    const p = createPaginator(paginationSchema.parse({ type: 'page', size: 3 }));
    expect(p.first()).toEqual({ query: { page: '1' } });
  });

  it('cursor: reads the next token from the body and stops on absent, null or ""', () => {
    const p = createPaginator(
      paginationSchema.parse({ type: 'cursor', cursorParam: 'after', nextCursorPath: 'meta.next' }),
    );
    const first = p.first();
    expect(first).toEqual({ query: {} });
    expect(p.next(first, response(5, { body: { meta: { next: 'abc' } } }))).toEqual({ query: { after: 'abc' } });
    expect(p.next(first, response(5, { body: { meta: { next: 42 } } }))).toEqual({ query: { after: '42' } });
    expect(p.next(first, response(5, { body: { meta: { next: null } } }))).toBeNull();
    expect(p.next(first, response(5, { body: { meta: { next: '' } } }))).toBeNull();
    expect(p.next(first, response(5, { body: { meta: {} } }))).toBeNull();
  });

  it('link: follows rel="next", resolving a relative target against the page URL', () => {
    const p = createPaginator(paginationSchema.parse({ type: 'link' }));
    const first = p.first();
    const next = p.next(
      first,
      response(5, { linkHeader: '</items?page=2>; rel="next"', url: 'http://api.test/v1/items?page=1' }),
    );
    expect(next).toEqual({ url: 'http://api.test/items?page=2', query: {} });
    expect(p.next(first, response(5, { linkHeader: '<http://api.test/items?page=1>; rel="first"' }))).toBeNull();
    expect(p.next(first, response(5))).toBeNull();
  });
});

describe('nextLink', () => {
  it('finds rel="next" among several links', () => {
    expect(
      nextLink(
        '<https://a.test/?p=1>; rel="first", <https://a.test/?p=3>; rel="next", <https://a.test/?p=9>; rel="last"',
      ),
    ).toBe('https://a.test/?p=3');
  });

  it('accepts an unquoted rel, other parameters and rel lists', () => {
    expect(nextLink('</p2>; rel=next')).toBe('/p2');
    expect(nextLink('</p2>; title="Next, please"; rel="next"')).toBe('/p2');
    expect(nextLink('</p2>; rel="prev"')).toBeUndefined();
    expect(nextLink('</p9>; rel="next last"')).toBe('/p9');
    expect(nextLink('</p2>; REL="Next"')).toBe('/p2');
  });

  it('is undefined without a header or a next link', () => {
    expect(nextLink(undefined)).toBeUndefined();
    expect(nextLink('')).toBeUndefined();
    expect(nextLink('</p1>; rel="first"')).toBeUndefined();
  });
});
