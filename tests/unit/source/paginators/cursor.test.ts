import { paginationSchema } from '@changefeed/shared/source';
import { pageResponse, paginatorFor } from './page-response';

describe('pagination cursor', () => {
  it('reads the next token from the body and stops on absent, null or ""', () => {
    const p = paginatorFor({ type: 'cursor', cursorParam: 'after', nextCursorPath: 'meta.next' });
    const first = p.first();
    expect(first).toEqual({ query: {} });
    const after = (body: unknown): unknown => p.next(pageResponse(first, 5, { body }));
    expect(after({ meta: { next: 'abc' } })).toEqual([{ query: { after: 'abc' } }]);
    expect(after({ meta: { next: 42 } })).toEqual([{ query: { after: '42' } }]);
    expect(after({ meta: { next: null } })).toEqual([]);
    expect(after({ meta: { next: '' } })).toEqual([]);
    expect(after({ meta: {} })).toEqual([]);
  });

  it('needs nextCursorPath, as a dot path', () => {
    expect(paginationSchema.safeParse({ type: 'cursor' }).success).toBe(false);
    const bad = paginationSchema.safeParse({ type: 'cursor', nextCursorPath: 'meta..next' });
    expect(bad.error?.issues.map((i) => [i.path, i.message])).toEqual([
      [['nextCursorPath'], 'expected a dot path such as "id" or "data.id"'],
    ]);
  });
});
