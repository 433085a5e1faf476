import { nextLink } from '@changefeed/shared/source';

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
