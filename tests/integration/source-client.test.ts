import express, { type Request, type Response } from 'express';
import { sourceSchema, type SourceConfig } from '@changefeed/shared/config';
import { listen, type ListeningServer } from '@changefeed/shared/http';
import { createSourceClient, SourceError, type HttpSourceClient } from '@changefeed/shared/source';
import { startDemoApi, type RunningDemoApi } from '../../services/cli/src/demo-api';
import { captureLog, FakeClock, type CapturedLog } from '../support/source-fakes';

/** A server that answers each request with the next scripted handler (then `[]`), and remembers what it got. */
class ScriptedServer {
  readonly received: { url: string; method: string; headers: Request['headers']; body: unknown }[] = [];
  readonly script: ((req: Request, res: Response) => void)[] = [];
  private server: ListeningServer | undefined;

  async start(): Promise<string> {
    const app = express();
    app.use(express.json());
    app.use((req, res) => {
      this.received.push({ url: req.originalUrl, method: req.method, headers: req.headers, body: req.body as unknown });
      const next = this.script.shift();
      if (next === undefined) res.json([]);
      else next(req, res);
    });
    this.server = await listen(app, { port: 0 });
    return this.server.url;
  }

  async stop(): Promise<void> {
    await this.server?.close({ force: true });
  }
}

function source(url: string, request: Record<string, unknown> = {}, rest: Record<string, unknown> = {}): SourceConfig {
  return sourceSchema.parse({
    name: 'carts',
    mode: 'stream',
    request: { url, minBackoff: 10, maxBackoff: 40, timeout: 2000, ...request },
    idField: 'id',
    table: 'carts',
    ...rest,
  });
}

async function collect(client: HttpSourceClient, options = {}): Promise<unknown[][]> {
  const pages: unknown[][] = [];
  for await (const page of client.fetchPages(options)) pages.push([...page.records]);
  return pages;
}

async function failure(promise: Promise<unknown>): Promise<SourceError> {
  try {
    await promise;
  } catch (e: unknown) {
    if (e instanceof SourceError) return e;
    throw e;
  }
  throw new Error('expected a SourceError, got success');
}

describe('HttpSourceClient against the demo API: every pagination style', () => {
  let demo: RunningDemoApi;
  let clock: FakeClock;
  let log: CapturedLog;
  const client = (request: Record<string, unknown>): HttpSourceClient => {
    const c = createSourceClient(source(`${demo.url}/carts`, { recordsPath: 'carts', ...request }), {
      env: {},
      clock,
      logger: log.logger,
    });
    clients.push(c);
    return c;
  };
  const clients: HttpSourceClient[] = [];

  beforeAll(async () => {
    demo = await startDemoApi({ port: 0, carts: 23, seed: 7, changesPerSecond: 0 });
  });
  beforeEach(() => {
    clock = new FakeClock();
    log = captureLog();
  });
  afterAll(async () => {
    for (const c of clients) c.close();
    await demo.close();
  });

  const allIds = Array.from({ length: 23 }, (_, i) => i + 1);
  const ids = (pages: unknown[][]): unknown[] => pages.flat().map((r) => (r as { id: unknown }).id);

  it('offset + limit: stops at the first short page', async () => {
    const pages = await collect(client({ pagination: { type: 'offset', limit: 5 } }));
    expect(pages.map((p) => p.length)).toEqual([5, 5, 5, 5, 3]);
    expect(ids(pages)).toEqual(allIds);
  });

  it('offset + limit: an exact multiple ends with an empty page', async () => {
    demo.store.reset({ seed: 7, carts: 20 });
    try {
      const pages = await collect(client({ pagination: { type: 'offset', limit: 5 } }));
      expect(pages.map((p) => p.length)).toEqual([5, 5, 5, 5, 0]);
    } finally {
      demo.store.reset({ seed: 7, carts: 23 });
    }
  });

  it('page number with a size parameter', async () => {
    const pages = await collect(
      client({ pagination: { type: 'page', sizeParam: 'pageSize', size: 10, firstPage: 1 } }),
    );
    expect(pages.map((p) => p.length)).toEqual([10, 10, 3]);
    expect(ids(pages)).toEqual(allIds);
  });

  it('cursor token read from the body', async () => {
    const pages = await collect(
      client({ query: { paging: 'cursor', limit: 6 }, pagination: { type: 'cursor', nextCursorPath: 'nextCursor' } }),
    );
    expect(pages.map((p) => p.length)).toEqual([6, 6, 6, 5]);
    expect(ids(pages)).toEqual(allIds);
  });

  it('Link header with relative targets', async () => {
    const pages = await collect(client({ query: { paging: 'link', limit: 8 }, pagination: { type: 'link' } }));
    expect(pages.map((p) => p.length)).toEqual([8, 8, 7]);
    expect(ids(pages)).toEqual(allIds);
  });

  it('none: one request', async () => {
    const c = createSourceClient(source(`${demo.url}/products`), { env: {}, clock, logger: log.logger });
    clients.push(c);
    const pages = await collect(c);
    expect(pages).toHaveLength(1);
    expect(pages[0]).toHaveLength(20);
  });

  it('logs one debug line per page with the status and no sleeps without a rate limit', async () => {
    await collect(client({ pagination: { type: 'offset', limit: 10 } }));
    const pageLines = log.lines.filter((l) => l['message'] === 'source page fetched');
    expect(
      pageLines.map((l) => [l['severity'], l['status'], l['source'], l['page'], l['records'], l['attempts']]),
    ).toEqual([
      ['DEBUG', 200, 'carts', 1, 10, 1],
      ['DEBUG', 200, 'carts', 2, 10, 1],
      ['DEBUG', 200, 'carts', 3, 3, 1],
    ]);
    expect(pageLines.map((l) => l['url'])).toEqual([
      `${demo.url}/carts?offset=0&limit=10`,
      `${demo.url}/carts?offset=10&limit=10`,
      `${demo.url}/carts?offset=20&limit=10`,
    ]);
    expect(clock.sleeps).toEqual([]);
  });

  it('a 503 fault injected in the demo API is retried', async () => {
    await fetch(`${demo.url}/admin/faults`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ path: '/carts', status: 503, count: 2 }),
    });
    const pages = await collect(client({ pagination: { type: 'offset', limit: 100 } }));
    expect(ids(pages)).toEqual(allIds);
    expect(clock.sleeps).toHaveLength(2);
  });
});

describe('HttpSourceClient against a scripted server', () => {
  const server = new ScriptedServer();
  let url: string;
  let clock: FakeClock;
  let log: CapturedLog;
  const clients: HttpSourceClient[] = [];
  const make = (config: SourceConfig, env: Record<string, string> = {}): HttpSourceClient => {
    const c = createSourceClient(config, { env, clock, logger: log.logger, random: () => 0 });
    clients.push(c);
    return c;
  };

  beforeAll(async () => {
    url = `${await server.start()}/items`;
  });
  beforeEach(() => {
    server.received.length = 0;
    server.script.length = 0;
    clock = new FakeClock();
    log = captureLog();
  });
  afterAll(async () => {
    for (const c of clients) c.close();
    await server.stop();
  });

  describe('auth', () => {
    it('bearer token header from the environment', async () => {
      await collect(make(source(url, {}, { auth: { type: 'bearer', tokenEnv: 'T' } }), { T: 'tok-1' }));
      expect(server.received[0]?.headers['authorization']).toBe('Bearer tok-1');
    });

    it('api key in a header', async () => {
      await collect(
        make(source(url, {}, { auth: { type: 'apiKey', name: 'X-Api-Key', valueEnv: 'K' } }), { K: 'key-2' }),
      );
      expect(server.received[0]?.headers['x-api-key']).toBe('key-2');
    });

    it('api key in the query, never logged', async () => {
      const config = source(
        url,
        { pagination: { type: 'offset', limit: 1 } },
        {
          auth: { type: 'apiKey', in: 'query', name: 'appid', valueEnv: 'K' },
        },
      );
      server.script.push((_req, res) => res.json([{ id: 1 }]));
      await collect(make(config, { K: 'key-secret-3' }));
      expect(server.received.map((r) => r.url)).toEqual([
        '/items?offset=0&limit=1&appid=key-secret-3',
        '/items?offset=1&limit=1&appid=key-secret-3',
      ]);
      expect(log.lines.filter((l) => l['message'] === 'source page fetched').map((l) => l['url'])).toEqual([
        `${url}?offset=0&limit=1&appid=REDACTED`,
        `${url}?offset=1&limit=1&appid=REDACTED`,
      ]);
      expect(log.text()).not.toContain('key-secret-3');
    });

    it('api key in the query is redacted from error messages', async () => {
      server.script.push((_req, res) => res.status(403).json({ error: 'nope' }));
      const config = source(url, {}, { auth: { type: 'apiKey', in: 'query', name: 'appid', valueEnv: 'K' } });
      const error = await failure(collect(make(config, { K: 'key-secret-4' })));
      expect(error.message).toBe(
        `source "carts": GET ${url}?appid=REDACTED answered HTTP 403 (permanent, not retried) after 1 attempt`,
      );
    });

    it('basic auth', async () => {
      await collect(
        make(source(url, {}, { auth: { type: 'basic', usernameEnv: 'U', passwordEnv: 'P' } }), { U: 'ada', P: 'pw' }),
      );
      expect(server.received[0]?.headers['authorization']).toBe(`Basic ${Buffer.from('ada:pw').toString('base64')}`);
    });

    it('a missing variable fails at creation, naming the source, the key and the variable', () => {
      expect(() => make(source(url, {}, { auth: { type: 'bearer', tokenEnv: 'CARTS_TOKEN' } }), {})).toThrow(
        'source "carts": auth.tokenEnv names the environment variable CARTS_TOKEN, which is not set',
      );
    });
  });

  it('sends the configured query, headers, POST body and the caller query on every page', async () => {
    server.script.push((_req, res) => res.json({ data: [{ id: 1 }, { id: 2 }] }));
    server.script.push((_req, res) => res.json({ data: [{ id: 3 }] }));
    const config = source(url, {
      method: 'POST',
      body: { filter: 'all' },
      headers: { 'X-Tenant': 't1' },
      query: { region: 'eu', active: true },
      recordsPath: 'data',
      pagination: { type: 'page', size: 2 },
    });
    const pages = await collect(make(config), { query: { since: '2024-01-01' } });
    expect(pages).toEqual([[{ id: 1 }, { id: 2 }], [{ id: 3 }]]);
    expect(server.received.map((r) => [r.method, r.url, r.body, r.headers['x-tenant']])).toEqual([
      ['POST', '/items?region=eu&active=true&page=1&since=2024-01-01', { filter: 'all' }, 't1'],
      ['POST', '/items?region=eu&active=true&page=2&since=2024-01-01', { filter: 'all' }, 't1'],
    ]);
  });

  it('retries a 500, then succeeds, logging a warning per retry', async () => {
    server.script.push((_req, res) => res.status(500).send('boom'));
    const pages = await collect(make(source(url)));
    expect(pages).toEqual([[]]);
    expect(server.received).toHaveLength(2);
    expect(clock.sleeps).toEqual([10]);
    const warnings = log.lines.filter((l) => l['severity'] === 'WARNING');
    expect(warnings.map((l) => [l['message'], l['attempt'], l['delayMs'], l['reason']])).toEqual([
      ['source request failed, retrying', 1, 10, 'HTTP 500'],
    ]);
  });

  it('honours Retry-After in seconds on a 429', async () => {
    server.script.push((_req, res) => res.status(429).set('Retry-After', '7').end());
    await collect(make(source(url)));
    expect(clock.sleeps).toEqual([7000]);
    expect(server.received).toHaveLength(2);
  });

  it('honours Retry-After as an HTTP date, capped by maxRetryAfterMs', async () => {
    const at = new Date(clock.now().getTime() + 4000).toUTCString();
    server.script.push((_req, res) => res.status(503).set('Retry-After', at).end());
    server.script.push((_req, res) => res.status(503).set('Retry-After', '86400').end());
    const c = createSourceClient(source(url), {
      env: {},
      clock,
      logger: log.logger,
      random: () => 0,
      maxRetryAfterMs: 60_000,
    });
    clients.push(c);
    await collect(c);
    expect(clock.sleeps).toEqual([4000, 60_000]);
  });

  it('gives up after maxAttempts on a persistent 503, with the status and the attempts in the error', async () => {
    for (let i = 0; i < 3; i++) server.script.push((_req, res) => res.status(503).end());
    const error = await failure(collect(make(source(url, { maxAttempts: 3 }))));
    expect(error.code).toBe('SOURCE.HTTP_STATUS');
    expect(error.status).toBe(503);
    expect(error.attempts).toBe(3);
    expect(error.retryable).toBe(true);
    expect(error.message).toBe(`source "carts": GET ${url} answered HTTP 503 after 3 attempts`);
    expect(clock.sleeps).toEqual([10, 10]);
  });

  it('backs off exponentially with jitter up to maxBackoff', async () => {
    for (let i = 0; i < 4; i++) server.script.push((_req, res) => res.status(502).end());
    const c = createSourceClient(source(url, { maxAttempts: 5 }), {
      env: {},
      clock,
      logger: log.logger,
      random: () => 0.999999,
    });
    clients.push(c);
    await collect(c);
    expect(clock.sleeps).toEqual([10, 20, 40, 40]);
  });

  it('fails at once on a 404', async () => {
    server.script.push((_req, res) => res.status(404).json({ error: 'no' }));
    const error = await failure(collect(make(source(url))));
    expect([error.code, error.status, error.attempts, error.retryable]).toEqual(['SOURCE.HTTP_STATUS', 404, 1, false]);
    expect(server.received).toHaveLength(1);
    expect(clock.sleeps).toEqual([]);
  });

  it('retries a request that times out', async () => {
    server.script.push((_req, res) => {
      setTimeout(() => res.json([{ id: 'late' }]), 1000).unref();
    });
    server.script.push((_req, res) => res.json([{ id: 'fast' }]));
    const pages = await collect(make(source(url, { timeout: 100 })));
    expect(pages).toEqual([[{ id: 'fast' }]]);
    expect(server.received).toHaveLength(2);
    const warning = log.lines.find((l) => l['severity'] === 'WARNING');
    expect(warning?.['reason']).toBe('timeout');
  });

  it('reports SOURCE.TIMEOUT when every attempt times out', async () => {
    for (let i = 0; i < 2; i++) {
      server.script.push((_req, res) => {
        setTimeout(() => res.json([]), 1000).unref();
      });
    }
    const error = await failure(collect(make(source(url, { timeout: 100, maxAttempts: 2 }))));
    expect(error.code).toBe('SOURCE.TIMEOUT');
    expect(error.message).toBe(`source "carts": GET ${url} timed out (request.timeout 100ms) after 2 attempts`);
  });

  it('retries connection errors and reports SOURCE.NETWORK', async () => {
    const closed = await listen(express(), { port: 0 });
    const deadUrl = `${closed.url}/items`;
    await closed.close();
    const error = await failure(collect(make(source(deadUrl, { maxAttempts: 2 }))));
    expect(error.code).toBe('SOURCE.NETWORK');
    expect(error.message).toBe(`source "carts": GET ${deadUrl} failed with ECONNREFUSED after 2 attempts`);
    expect(clock.sleeps).toEqual([10]);
  });

  it('a body that is not JSON is a bad payload naming the source and the URL, not retried', async () => {
    server.script.push((_req, res) => res.type('text/html').send('<html>maintenance</html>'));
    const error = await failure(collect(make(source(url))));
    expect(error.code).toBe('SOURCE.BAD_PAYLOAD');
    expect(error.retryable).toBe(false);
    expect(error.message).toBe(
      `source "carts": ${url} answered HTTP 200 with a body that is not JSON (text/html; charset=utf-8): "<html>maintenance</html>"`,
    );
    expect(server.received).toHaveLength(1);
  });

  it('a records path with nothing there names the path and what the body holds', async () => {
    server.script.push((_req, res) => res.json({ items: [], total: 0 }));
    const error = await failure(collect(make(source(url, { recordsPath: 'data.items' }))));
    expect(error.code).toBe('SOURCE.BAD_PAYLOAD');
    expect(error.message).toBe(
      `source "carts": ${url}: expected an array of records at request.recordsPath "data.items", found nothing there (the body is an object with keys [items, total])`,
    );
  });

  it('a records path holding something else than an array names what it found', async () => {
    server.script.push((_req, res) => res.json({ data: { id: 1 } }));
    const error = await failure(collect(make(source(url, { recordsPath: 'data' }))));
    expect(error.message).toBe(
      `source "carts": ${url}: expected an array of records at request.recordsPath "data", found an object with keys [id]`,
    );
  });

  it('an object body without recordsPath suggests setting it', async () => {
    server.script.push((_req, res) => res.json({ users: [] }));
    const error = await failure(collect(make(source(url))));
    expect(error.message).toBe(
      `source "carts": ${url}: expected an array of records at the body, found an object with keys [users]; set request.recordsPath to the array`,
    );
  });

  it('waits for the rate limit through the clock', async () => {
    server.script.push((_req, res) => res.json([{ id: 1 }]));
    server.script.push((_req, res) => res.json([{ id: 2 }]));
    await collect(make(source(url, { rateLimit: 5, pagination: { type: 'offset', limit: 1 } })));
    expect(server.received).toHaveLength(3);
    expect(clock.sleeps).toEqual([200, 200]);
  });

  it('stops with SOURCE.TOO_MANY_PAGES past maxPages', async () => {
    for (let i = 0; i < 5; i++) server.script.push((_req, res) => res.json([{ id: i }]));
    const pages: unknown[] = [];
    const error = await failure(
      (async () => {
        for await (const page of make(
          source(url, { maxPages: 3, pagination: { type: 'offset', limit: 1 } }),
        ).fetchPages()) {
          pages.push(page);
        }
      })(),
    );
    expect(pages).toHaveLength(3);
    expect(error.code).toBe('SOURCE.TOO_MANY_PAGES');
    expect(error.message).toBe('source "carts": more than request.maxPages=3 pages; pagination (offset) may never end');
  });

  it('fetches lazily and stops when the signal aborts', async () => {
    for (let i = 0; i < 5; i++) server.script.push((_req, res) => res.json([{ id: i }]));
    const controller = new AbortController();
    const seen: unknown[] = [];
    const run = async (): Promise<void> => {
      for await (const page of make(source(url, { pagination: { type: 'offset', limit: 1 } })).fetchPages({
        signal: controller.signal,
      })) {
        seen.push(page.records[0]);
        if (seen.length === 2) controller.abort(new Error('shutting down'));
      }
    };
    await expect(run()).rejects.toThrow('shutting down');
    expect(seen).toEqual([{ id: 0 }, { id: 1 }]);
    expect(server.received).toHaveLength(2);
  });

  it('reports the body size of each page', async () => {
    server.script.push((_req, res) => res.type('application/json').send('[{"id":1}]'));
    const sizes: number[] = [];
    for await (const page of make(source(url)).fetchPages()) sizes.push(page.bytes);
    expect(sizes).toEqual([10]);
  });
});
