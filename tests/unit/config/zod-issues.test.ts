import { z } from 'zod';
import { formatIssuePath, summarizeIssues, validationIssues } from '@changefeed/shared/errors';

const schema = z.strictObject({
  sources: z.array(z.strictObject({ name: z.string(), headers: z.record(z.string(), z.number()) })),
});

function issuesOf(value: unknown, pathPrefix?: string) {
  const result = schema.safeParse(value);
  if (result.success) throw new Error('expected the value to be refused');
  return validationIssues(result.error, pathPrefix === undefined ? {} : { pathPrefix });
}

describe('zod issues as ValidationIssues', () => {
  it('writes paths as a reader would, with indexes and odd keys in brackets', () => {
    expect(formatIssuePath(['sources', 0, 'request', 'url'])).toBe('sources[0].request.url');
    expect(formatIssuePath(['headers', 'x.trace id'])).toBe('headers["x.trace id"]');
    expect(formatIssuePath(['attributes', 'ce-id'])).toBe('attributes.ce-id');
    expect(formatIssuePath([])).toBe('');
  });

  it('names unknown keys plainly and keeps every other message as zod words it', () => {
    const issues = issuesOf({ sources: [{ name: 1, headers: { a: 'x' } }], extra: true, more: 1 });

    expect(issues).toEqual([
      { path: 'sources[0].name', message: expect.stringContaining('expected string') as unknown },
      { path: 'sources[0].headers.a', message: expect.stringContaining('expected number') as unknown },
      { path: '', message: 'unknown keys "extra", "more"' },
    ]);
  });

  it('prefixes paths but not the whole input, and names the whole input in a summary', () => {
    const issues = issuesOf('nope', 'ce-');

    expect(issues.map((i) => i.path)).toEqual(['']);
    expect(summarizeIssues(issues, 'body')).toMatch(/^body: /);
    expect(issuesOf({ sources: [{ name: 'a', headers: {} }], x: 1 }, 'ce-')[0]?.path).toBe('');
    expect(issuesOf({ sources: 'a' }, 'ce-')[0]?.path).toBe('ce-sources');
  });
});
