import { redactUrl } from '@changefeed/shared/http';
import { readPath } from '@changefeed/shared/source';

describe('redactUrl', () => {
  it('hides named and usual secret query parameters and userinfo, keeps the rest', () => {
    expect(redactUrl('https://u:p@api.test/x?appid=abc&offset=10&api_key=zzz', ['appid'])).toBe(
      'https://REDACTED:REDACTED@api.test/x?appid=REDACTED&offset=10&api_key=REDACTED',
    );
  });

  it('matches parameter names case-insensitively', () => {
    expect(redactUrl('http://api.test/?Token=abc', [])).toBe('http://api.test/?Token=REDACTED');
    expect(redactUrl('http://api.test/?APPID=abc', ['appid'])).toBe('http://api.test/?APPID=REDACTED');
  });

  it('hides the whole query of text that is not a URL', () => {
    expect(redactUrl('not a url?key=1')).toBe('not a url?REDACTED');
  });
});

describe('readPath', () => {
  const body = { data: { items: [{ id: 7 }], next: null }, zero: 0 };

  it('follows dot paths through objects and arrays', () => {
    expect(readPath(body, 'data.items')).toEqual([{ id: 7 }]);
    expect(readPath(body, 'data.items.0.id')).toBe(7);
    expect(readPath(body, 'data.next')).toBeNull();
    expect(readPath(body, 'zero')).toBe(0);
  });

  it('is undefined for a missing step or a step through a scalar', () => {
    expect(readPath(body, 'data.missing')).toBeUndefined();
    expect(readPath(body, 'zero.x')).toBeUndefined();
    expect(readPath(body, 'toString')).toBeUndefined();
  });
});
