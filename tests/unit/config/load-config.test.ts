import { Duration, parseConfig } from '@changefeed/shared/config';
import { issuesOf } from '../../support/config-issues';

describe('parseConfig', () => {
  it('accepts a minimal stream source and fills every default', () => {
    const config = parseConfig(
      `sources:
  - name: carts
    mode: stream
    request: { url: http://localhost:8787/carts }
    idField: id
    table: carts
`,
      'minimal.yaml',
    );

    expect(config.backend).toBe('local');
    const [source] = config.sources;
    expect(source).toMatchObject({
      name: 'carts',
      coldStart: 'emit',
      pollInterval: Duration.from({ seconds: 30 }),
      auth: { type: 'none' },
      request: {
        method: 'GET',
        pagination: { type: 'none' },
        timeout: Duration.from({ seconds: 30 }),
        maxAttempts: 5,
        headers: {},
        query: {},
      },
    });
    expect(source?.request.recordsPath).toBeUndefined();
    expect(config.loader.groupCommitMaxRows).toBe(500);
    expect(config.bus.maxDeliveryAttempts).toBe(5);
    expect(config.bus.minBackoff.totalOf('second')).toBe(10);
  });

  it('keeps _current by change data capture with a 15 minute max staleness unless the source says otherwise', () => {
    const config = parseConfig(
      `sources:
  - name: carts
    mode: stream
    request: { url: http://localhost:8787/carts }
    idField: id
    table: carts
  - name: orders
    mode: stream
    request: { url: http://localhost:8787/orders }
    idField: id
    table: orders
    current: { mode: merge, compactEvery: 5m, maxStaleness: 0 }
`,
      'current.yaml',
    );
    expect(config.sources.map((s) => s.current)).toEqual([
      { mode: 'cdc', maxStaleness: Duration.from({ minutes: 15 }), compactEvery: Duration.from({ minutes: 1 }) },
      { mode: 'merge', maxStaleness: Duration.from({}), compactEvery: Duration.from({ minutes: 5 }) },
    ]);
    expect(
      issuesOf(`sources:
  - name: carts
    mode: stream
    request: { url: http://localhost:8787/carts }
    idField: id
    table: carts
    current: { mode: upsert, every: 1m }
`),
    ).toEqual([
      expect.stringMatching(/^7:sources\[0\]\.current\.mode: .*"cdc".*"merge"/),
      expect.stringMatching(/^7:sources\[0\]\.current.*every/),
    ]);
  });

  it('parses durations and pagination defaults', () => {
    const config = parseConfig(
      `sources:
  - name: carts
    mode: stream
    request:
      url: http://localhost:8787/carts
      recordsPath: data.carts
      pagination: { type: offset, limit: 50 }
      timeout: 2.5s
    idField: data.id
    table: carts
    pollInterval: 5m
`,
      'c.yaml',
    );
    const source = config.sources[0];
    expect(source?.pollInterval.totalOf('millisecond')).toBe(300_000);
    expect(source?.request.timeout.totalOf('millisecond')).toBe(2500);
    expect(source?.request.pagination).toEqual({
      type: 'offset',
      limit: 50,
      offsetParam: 'offset',
      limitParam: 'limit',
    });
  });

  it('names the line, the YAML path and what was expected for every problem at once', () => {
    const issues = issuesOf(`sources:
  - name: Carts
    mode: streaming
    request:
      url: not-a-url
    idField: id
    table: carts
    pollInterval: soon
`);

    expect(issues).toEqual([
      expect.stringMatching(/^2:sources\[0\]\.name: expected lowercase/),
      expect.stringMatching(/^3:sources\[0\]\.mode: .*"stream".*"batch"/),
      expect.stringMatching(/^5:sources\[0\]\.request\.url: expected an absolute http\(s\) URL/),
      expect.stringMatching(/^8:sources\[0\]\.pollInterval: expected a duration/),
    ]);
  });

  it('points at the enclosing object when a required key is missing', () => {
    const issues = issuesOf(`sources:
  - name: carts
    mode: stream
    request: { url: http://x/carts }
    table: carts
`);
    expect(issues).toEqual([expect.stringMatching(/^2:sources\[0\]\.idField: /)]);
  });

  it('rejects unknown keys, duplicate names and tables, and credentials written in headers', () => {
    const issues = issuesOf(`sources:
  - name: carts
    mode: stream
    request:
      url: http://x/carts
      headers: { Authorization: Bearer abc }
    idField: id
    table: carts
    colstart: emit
  - name: carts
    mode: batch
    request: { url: http://x/carts }
    idField: id
    table: carts
`);
    expect(issues).toEqual([
      expect.stringMatching(
        /^6:sources\[0\]\.request\.headers\.Authorization: header "Authorization" carries a credential/,
      ),
      expect.stringMatching(/^2:sources\[0\]: unknown key "colstart"/),
      expect.stringMatching(/^10:sources\[1\]\.name: duplicate source name "carts"/),
      expect.stringMatching(/^14:sources\[1\]\.table: table "carts" is already written/),
    ]);
  });

  it('reports YAML syntax errors with their line', () => {
    const issues = issuesOf(`sources:\n  - name: carts\n    mode: [stream\n`);
    expect(issues[0]).toMatch(/^\d+:: YAML syntax/);
  });

  it('rejects incremental on a stream source', () => {
    const issues = issuesOf(`sources:
  - name: products
    mode: stream
    request: { url: http://x/p }
    idField: id
    table: products
    incremental: { cursorField: updatedAt, cursorParam: since }
`);
    expect(issues).toEqual([
      expect.stringMatching(/^7:sources\[0\]\.incremental: incremental applies to mode: batch only/),
    ]);
  });

  it('formats the thrown message as file:line:col lines', () => {
    expect(() => parseConfig('sources: []\n', 'f.yaml')).toThrow(/f\.yaml:1:10: sources: expected at least one source/);
  });
});
