import type { Request } from 'express';
import { sourceSchema, type SourceConfig } from '@changefeed/shared/config';
import type { Logger } from '@changefeed/shared/log';
import type { Clock, SourceClient } from '@changefeed/shared/ports';
import { SourceError, type AuthType, type PaginationType } from '@changefeed/shared/source';
import { captureLog, FakeClock, type CapturedLog } from '../support/source-fakes';
import { FIXTURE_RECORDS, SourceFixtureApi } from './source-fixture-api';

/** What a client under test is built from besides its source config. */
export interface SourceClientTestDeps {
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly clock: Clock;
  readonly logger: Logger;
  /** Jitter pinned to 0: each backoff is request.minBackoff. */
  readonly random: () => number;
}

/** Builds a client; the suite closes it after the test when it has a `close`. */
export type MakeSourceClient = (source: SourceConfig, deps: SourceClientTestDeps) => SourceClient & { close?(): void };

/** How one pagination style is configured against the fixture API, and the page sizes it must yield. */
interface PagingCase {
  readonly path: string;
  readonly request: Record<string, unknown>;
  readonly pageSizes: readonly number[];
}

/**
 * One case per registered style: the `Record` over `PaginationType` makes a new style fail to
 * compile here until it has its case, so the contract covers every style there is.
 */
const PAGING: Record<PaginationType, PagingCase> = {
  none: { path: '/none', request: { pagination: { type: 'none' } }, pageSizes: [7] },
  offset: {
    path: '/offset',
    request: { recordsPath: 'items', pagination: { type: 'offset', limit: 3 } },
    pageSizes: [3, 3, 1],
  },
  page: {
    path: '/page',
    request: { recordsPath: 'items', pagination: { type: 'page', sizeParam: 'size', size: 3 } },
    pageSizes: [3, 3, 1],
  },
  cursor: {
    path: '/cursor',
    request: { recordsPath: 'items', query: { limit: 3 }, pagination: { type: 'cursor', nextCursorPath: 'meta.next' } },
    pageSizes: [3, 3, 1],
  },
  link: { path: '/link', request: { query: { per_page: 3 }, pagination: { type: 'link' } }, pageSizes: [3, 3, 1] },
};

/** How one auth type is configured, the environment it reads, and what the server must see. */
interface AuthCase {
  readonly label: string;
  readonly auth: Record<string, unknown>;
  readonly env: Record<string, string>;
  /** The secret value, which must reach the server and never a log line ('' when there is none). */
  readonly secret: string;
  readonly accepts: (req: Request) => boolean;
}

const basic = `Basic ${Buffer.from('ada:pw-5ecret').toString('base64')}`;

/**
 * Every registered auth type has at least one case, for the same reason as PAGING, except
 * OAuth2: its credentials come from a second server, an authorization server, so its suite
 * (tests/integration/source-oauth2.test.ts) runs against a real one (node-oidc-provider).
 */
const AUTH: Record<Exclude<AuthType, 'oauth2ClientCredentials'>, readonly AuthCase[]> = {
  none: [
    {
      label: 'none',
      auth: { type: 'none' },
      env: {},
      secret: '',
      accepts: (req) => req.headers.authorization === undefined && req.headers['x-api-key'] === undefined,
    },
  ],
  bearer: [
    {
      label: 'bearer',
      auth: { type: 'bearer', tokenEnv: 'CARTS_TOKEN' },
      env: { CARTS_TOKEN: 'tok-5ecret' },
      secret: 'tok-5ecret',
      accepts: (req) => req.headers.authorization === 'Bearer tok-5ecret',
    },
  ],
  apiKey: [
    {
      label: 'apiKey in a header',
      auth: { type: 'apiKey', name: 'X-Api-Key', valueEnv: 'CARTS_KEY' },
      env: { CARTS_KEY: 'key-5ecret' },
      secret: 'key-5ecret',
      accepts: (req) => req.headers['x-api-key'] === 'key-5ecret',
    },
    {
      label: 'apiKey in the query',
      auth: { type: 'apiKey', in: 'query', name: 'appid', valueEnv: 'CARTS_KEY' },
      env: { CARTS_KEY: 'key-5ecret' },
      secret: 'key-5ecret',
      accepts: (req) => req.query['appid'] === 'key-5ecret',
    },
  ],
  basic: [
    {
      label: 'basic',
      auth: { type: 'basic', usernameEnv: 'CARTS_USER', passwordEnv: 'CARTS_PASSWORD' },
      env: { CARTS_USER: 'ada', CARTS_PASSWORD: 'pw-5ecret' },
      secret: 'pw-5ecret',
      accepts: (req) => req.headers.authorization === basic,
    },
  ],
};

const ids = FIXTURE_RECORDS.map((r) => r.id);

/**
 * What every SourceClient must do against a real HTTP API: walk every pagination style to the
 * last page, authenticate with every auth type without logging a secret, retry what is transient
 * (5xx, 429 with Retry-After, timeouts) with backoff through the injected clock, fail what is not
 * at once, fail the fetch when a page fails after its retries (a partial state would look like
 * deletions), and stop pagination that never ends at request.maxPages.
 */
export function sourceClientContract(name: string, make: MakeSourceClient): void {
  describe(`SourceClient contract: ${name}`, () => {
    const api = new SourceFixtureApi();
    let baseUrl: string;
    let clock: FakeClock;
    let log: CapturedLog;
    const opened: (SourceClient & { close?(): void })[] = [];

    const client = (
      path: string,
      request: Record<string, unknown> = {},
      rest: Record<string, unknown> = {},
      env = {},
    ) => {
      const source = sourceSchema.parse({
        name: 'carts',
        mode: 'stream',
        request: { url: `${baseUrl}${path}`, minBackoff: 10, maxBackoff: 40, timeout: 2000, ...request },
        idField: 'id',
        table: 'carts',
        ...rest,
      });
      const c = make(source, { env, clock, logger: log.logger, random: () => 0 });
      opened.push(c);
      return c;
    };

    const pagesOf = async (c: SourceClient): Promise<unknown[][]> => {
      const pages: unknown[][] = [];
      for await (const page of c.fetchPages()) pages.push([...page.records]);
      return pages;
    };

    /** The pages yielded before the fetch failed, and the error, which must be a SourceError. */
    const failingFetch = async (c: SourceClient): Promise<{ pages: number; error: SourceError }> => {
      let pages = 0;
      try {
        for await (const _page of c.fetchPages()) pages += 1;
      } catch (e: unknown) {
        if (e instanceof SourceError) return { pages, error: e };
        throw e;
      }
      throw new Error(`expected the fetch to fail, it yielded ${pages} pages`);
    };

    const idsOf = (pages: unknown[][]): unknown[] => pages.flat().map((r) => (r as { id: unknown }).id);

    beforeAll(async () => {
      baseUrl = await api.start();
    });
    beforeEach(() => {
      api.reset();
      clock = new FakeClock();
      log = captureLog();
    });
    afterEach(() => {
      for (const c of opened.splice(0)) c.close?.();
    });
    afterAll(async () => {
      await api.stop();
    });

    describe('pagination', () => {
      it.each(Object.entries(PAGING))('%s: every record once, in order, page by page', async (_type, paging) => {
        const pages = await pagesOf(client(paging.path, paging.request));
        expect(pages.map((p) => p.length)).toEqual(paging.pageSizes);
        expect(idsOf(pages)).toEqual(ids);
        expect(api.received).toHaveLength(paging.pageSizes.length);
        expect(clock.sleeps).toEqual([]);
      });
    });

    describe('auth', () => {
      const cases = Object.values(AUTH).flat();

      it.each(cases.map((c) => [c.label, c] as const))(
        '%s: the server gets the credentials on every page, no log line does',
        async (_label, auth) => {
          api.guard = auth.accepts;
          const pages = await pagesOf(client('/secure', PAGING.offset.request, { auth: auth.auth }, auth.env));
          expect(idsOf(pages)).toEqual(ids);
          expect(api.received).toHaveLength(3);
          if (auth.secret !== '') expect(log.text()).not.toContain(auth.secret);
        },
      );

      it.each(cases.filter((c) => c.secret !== '').map((c) => [c.label, c] as const))(
        '%s: wrong credentials are a permanent SOURCE.HTTP_STATUS 401, not retried and not echoed',
        async (_label, auth) => {
          api.guard = auth.accepts;
          const env = Object.fromEntries(Object.keys(auth.env).map((k) => [k, `wrong-${k}`]));
          const { pages, error } = await failingFetch(client('/secure', {}, { auth: auth.auth }, env));
          expect([pages, error.code, error.status, error.attempts, error.retryable]).toEqual([
            0,
            'SOURCE.HTTP_STATUS',
            401,
            1,
            false,
          ]);
          expect(api.received).toHaveLength(1);
          for (const value of Object.values(env)) expect(`${error.message} ${log.text()}`).not.toContain(value);
        },
      );

      it.each(cases.filter((c) => c.secret !== '').map((c) => [c.label, c] as const))(
        '%s: an unset variable fails when the client is made, before any request',
        (_label, auth) => {
          expect(() => client('/secure', {}, { auth: auth.auth }, {})).toThrow(
            expect.objectContaining({ code: 'SOURCE.MISSING_CREDENTIAL' }) as Error,
          );
          expect(api.received).toHaveLength(0);
        },
      );
    });

    describe('retries', () => {
      it('retries 5xx with exponential backoff through the clock, then reads every page', async () => {
        api.inject({ path: '/offset', query: { offset: '3' }, times: 3, status: 503 });
        const pages = await pagesOf(client('/offset', { ...PAGING.offset.request, maxAttempts: 4 }));
        expect(idsOf(pages)).toEqual(ids);
        // random pinned to 0: each wait is minBackoff, whatever the cap has grown to.
        expect(clock.sleeps).toEqual([10, 10, 10]);
        expect(api.received.map((r) => r.query['offset'])).toEqual(['0', '3', '3', '3', '3', '6']);
      });

      it('waits what Retry-After asks on a 429, in seconds or as an HTTP date', async () => {
        api.inject({ path: '/none', times: 1, status: 429, retryAfter: '2' });
        api.inject({
          path: '/none',
          times: 1,
          status: 429,
          retryAfter: new Date(clock.now().getTime() + 2000 + 5000).toUTCString(),
        });
        const pages = await pagesOf(client('/none'));
        expect(idsOf(pages)).toEqual(ids);
        expect(clock.sleeps).toEqual([2000, 5000]);
      });

      // The timeout leaves a loaded machine room to answer the fast request; the slow one never
      // answers within the test (its timer is unref'd and the server is closed by force).
      it('retries a request that outlives request.timeout', async () => {
        api.inject({ path: '/none', times: 1, delayMs: 10_000 });
        const pages = await pagesOf(client('/none', { timeout: 500 }));
        expect(idsOf(pages)).toEqual(ids);
        expect(api.received).toHaveLength(2);
        expect(clock.sleeps).toEqual([10]);
      });

      it('fails at once on a status that asking again cannot change', async () => {
        api.inject({ path: '/none', times: 1, status: 404 });
        const { error } = await failingFetch(client('/none'));
        expect([error.code, error.status, error.attempts, error.retryable]).toEqual([
          'SOURCE.HTTP_STATUS',
          404,
          1,
          false,
        ]);
        expect(clock.sleeps).toEqual([]);
      });
    });

    describe('a page that fails after its retries', () => {
      it('fails the fetch after the pages before it, as a retryable SourceError', async () => {
        api.inject({ path: '/page', query: { page: '2' }, times: 3, status: 502 });
        const { pages, error } = await failingFetch(client('/page', { ...PAGING.page.request, maxAttempts: 3 }));
        expect(pages).toBe(1);
        expect([error.code, error.status, error.attempts, error.retryable]).toEqual([
          'SOURCE.HTTP_STATUS',
          502,
          3,
          true,
        ]);
        expect(api.received.map((r) => r.query['page'])).toEqual(['1', '2', '2', '2']);
      });

      it('every attempt timing out is SOURCE.TIMEOUT', async () => {
        api.inject({ path: '/none', times: 2, delayMs: 10_000 });
        const { error } = await failingFetch(client('/none', { timeout: 500, maxAttempts: 2 }));
        expect([error.code, error.attempts, error.retryable]).toEqual(['SOURCE.TIMEOUT', 2, true]);
      });
    });

    describe('request.maxPages', () => {
      it('stops pagination past maxPages with SOURCE.TOO_MANY_PAGES, after yielding that many', async () => {
        const { pages, error } = await failingFetch(client('/offset', { ...PAGING.offset.request, maxPages: 2 }));
        expect(pages).toBe(2);
        expect([error.code, error.retryable]).toEqual(['SOURCE.TOO_MANY_PAGES', false]);
        expect(api.received).toHaveLength(2);
      });

      it('a fetch of exactly maxPages pages succeeds', async () => {
        const pages = await pagesOf(client('/offset', { ...PAGING.offset.request, maxPages: 3 }));
        expect(idsOf(pages)).toEqual(ids);
      });
    });
  });
}
