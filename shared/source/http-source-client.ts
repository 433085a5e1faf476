import http from 'node:http';
import https from 'node:https';
import axios, { type AxiosInstance, type AxiosResponse } from 'axios';
import type { SourceConfig } from '../config';
import { DEFAULTS } from '../config';
import { redactUrl } from '../http';
import type { Logger } from '../log';
import type { Clock, FetchOptions, SourceClient, SourcePage } from '../ports';
import type { Credentials, SourceAuth } from './auth/source-auth';
import type { PageRequest, PageResponse } from './paginator';
import { createPaginator } from './paginators/registry';
import { extractRecords, parseJsonBody } from './parse-page';
import { RateLimiter } from './rate-limiter';
import {
  backoffDelayMs,
  isTransientFailure,
  parseRetryAfterMs,
  retryDelayMs,
  type AttemptFailure,
} from './retry-policy';
import { SourceError, SourceErrorCode } from './source-error';

export interface HttpSourceClientDeps {
  readonly clock: Clock;
  readonly logger: Logger;
  /** Jitter source, [0, 1); Math.random unless a test pins it. */
  readonly random?: () => number;
  /** Longest `Retry-After` honoured; DEFAULTS.source.request.maxRetryAfter unless given. */
  readonly maxRetryAfterMs?: number;
}

/** One attempt's result: a response, or why there was none. */
type AttemptResult =
  | { readonly ok: true; readonly response: AxiosResponse<Buffer> }
  | { readonly ok: false; readonly failure: AttemptFailure; readonly retryAfterMs?: number };

/** A page's response with what it took to get it, for the per-page log line. */
interface FetchedPage {
  readonly response: AxiosResponse<Buffer>;
  /** The URL of the attempt that succeeded, credentials in the query included. */
  readonly url: string;
  readonly attempts: number;
  readonly ms: number;
}

/** Axios codes for requests that can never succeed as configured; every other network error is transient. */
const PERMANENT_AXIOS_CODES = new Set([
  'ERR_INVALID_URL',
  'ERR_BAD_OPTION',
  'ERR_BAD_OPTION_VALUE',
  'ERR_NOT_SUPPORT',
  'ERR_FR_TOO_MANY_REDIRECTS',
]);

/**
 * Reads a source API over HTTP: every page of it, lazily, with the source's auth, pagination,
 * timeout, retries (exponential backoff with full jitter, `Retry-After` honoured) and rate limit.
 * Waits go through the injected clock. Secrets never reach a log line or an error message: URLs
 * are redacted and headers are not logged.
 */
export class HttpSourceClient implements SourceClient {
  private readonly http: AxiosInstance;
  private readonly agents: readonly (http.Agent | https.Agent)[];
  private readonly rateLimiter: RateLimiter | undefined;
  private readonly random: () => number;
  private readonly maxRetryAfterMs: number;
  private readonly logger: Logger;

  constructor(
    private readonly source: SourceConfig,
    private readonly auth: SourceAuth,
    private readonly deps: HttpSourceClientDeps,
  ) {
    const httpAgent = new http.Agent({ keepAlive: true });
    const httpsAgent = new https.Agent({ keepAlive: true });
    this.agents = [httpAgent, httpsAgent];
    this.http = axios.create({
      httpAgent,
      httpsAgent,
      // Statuses, bodies and JSON are judged here, not by axios, so every failure goes through
      // the one transient-or-permanent decision and malformed JSON is reported, not swallowed.
      validateStatus: () => true,
      responseType: 'arraybuffer',
      transformResponse: [(data: unknown) => data],
      // axios would otherwise read HTTP(S)_PROXY from the environment behind the config's back.
      proxy: false,
      maxRedirects: 5,
    });
    this.rateLimiter =
      source.request.rateLimit === undefined ? undefined : new RateLimiter(source.request.rateLimit, deps.clock);
    this.random = deps.random ?? Math.random;
    this.maxRetryAfterMs = deps.maxRetryAfterMs ?? DEFAULTS.source.request.maxRetryAfter.totalOf('millisecond');
    this.logger = deps.logger.child({ source: source.name });
  }

  /** Yields the source's pages in order, fetching each only when the previous one was consumed. */
  async *fetchPages(options: FetchOptions = {}): AsyncGenerator<SourcePage> {
    const { request } = this.source;
    const paginator = createPaginator(request.pagination, { sourceName: this.source.name, logger: this.logger });
    // The requests the paginator has made known and that were not sent yet, in page order.
    const pending: PageRequest[] = [paginator.first()];
    let count = 0;
    for (let page = pending.shift(); page !== undefined; page = pending.shift()) {
      if (count >= request.maxPages) {
        throw new SourceError(
          SourceErrorCode.tooManyPages,
          `source "${this.source.name}": more than request.maxPages=${request.maxPages} pages; ` +
            `pagination (${request.pagination.type}) may never end`,
          { source: this.source.name },
        );
      }
      const { response, url, attempts, ms } = await this.requestWithRetries(
        this.pageUrl(page, options.query),
        options.signal,
      );
      const body = parseJsonBody(this.source.name, this.safeUrl(url), response);
      const records = extractRecords(this.source.name, this.safeUrl(url), body, request.recordsPath);
      count += 1;
      this.logger.debug('source page fetched', {
        url: this.safeUrl(url),
        page: count,
        status: response.status,
        records: records.length,
        bytes: response.data.length,
        attempts,
        ms,
      });
      yield { records, bytes: response.data.length };
      const answer: PageResponse = {
        request: page,
        url,
        status: response.status,
        headers: headersOf(response),
        body,
        records,
      };
      pending.push(...paginator.next(answer));
    }
  }

  /** Closes idle keep-alive connections. The client must not be used afterwards. */
  close(): void {
    for (const agent of this.agents) agent.destroy();
    this.auth.close?.();
  }

  /** The page's URL before auth: the configured query, the page's, then the caller's. */
  private pageUrl(page: PageRequest, extra: Readonly<Record<string, string>> | undefined): URL {
    const { request } = this.source;
    const url = new URL(page.url ?? request.url);
    // A `Link` target already carries the API's own parameters; only add what it lacks.
    const set = (name: string, value: string): void => {
      if (page.url === undefined || !url.searchParams.has(name)) url.searchParams.set(name, value);
    };
    for (const [name, value] of Object.entries(request.query)) set(name, String(value));
    for (const [name, value] of Object.entries(page.query)) set(name, value);
    for (const [name, value] of Object.entries(extra ?? {})) set(name, value);
    return url;
  }

  /** The page's URL as one attempt sends it: the auth's query parameters last, replacing any namesake. */
  private attemptUrl(pageUrl: URL, credentials: Credentials): string {
    const url = new URL(pageUrl);
    for (const [name, value] of Object.entries(credentials.query)) url.searchParams.set(name, value);
    return url.toString();
  }

  private safeUrl(url: string): string {
    return redactUrl(url, this.auth.secretQueryParams);
  }

  private async requestWithRetries(pageUrl: URL, signal: AbortSignal | undefined): Promise<FetchedPage> {
    const { maxAttempts, minBackoff, maxBackoff } = this.source.request;
    let renewed = false;
    for (let attempt = 1; ; attempt++) {
      signal?.throwIfAborted();
      if (this.rateLimiter !== undefined) await this.rateLimiter.take(signal);
      // Asked before every attempt: credentials that expire are renewed by the auth, not here.
      const credentials = await this.auth.credentials(signal);
      const url = this.attemptUrl(pageUrl, credentials);
      const startedAt = this.deps.clock.now().getTime();
      const result = await this.attempt(url, credentials, signal);
      const ms = this.deps.clock.now().getTime() - startedAt;
      if (result.ok) return { response: result.response, url, attempts: attempt, ms };
      if (!renewed && this.renewedAfter(result.failure, url, credentials)) {
        // The same try once more, with fresh credentials: it does not count against maxAttempts.
        renewed = true;
        attempt -= 1;
        continue;
      }
      const transient = isTransientFailure(result.failure);
      if (!transient || attempt >= maxAttempts) {
        throw this.failureError(url, result.failure, attempt, transient);
      }
      const backoff = backoffDelayMs(
        attempt,
        { minBackoffMs: minBackoff.totalOf('millisecond'), maxBackoffMs: maxBackoff.totalOf('millisecond') },
        this.random,
      );
      const delayMs = retryDelayMs(backoff, result.retryAfterMs, this.maxRetryAfterMs);
      this.logger.warn('source request failed, retrying', {
        url: this.safeUrl(url),
        attempt,
        maxAttempts,
        delayMs,
        reason: describeFailure(result.failure),
        ...(result.retryAfterMs === undefined ? {} : { retryAfterMs: result.retryAfterMs }),
      });
      await this.deps.clock.sleep(delayMs, signal);
    }
  }

  /**
   * Whether the auth renewed its credentials after the API refused them with a 401; an auth that
   * cannot renew (the static ones) leaves the 401 to the retry policy, which fails it at once.
   */
  private renewedAfter(failure: AttemptFailure, url: string, refused: Credentials): boolean {
    if (failure.kind !== 'status' || failure.status !== 401 || this.auth.renew === undefined) return false;
    if (!this.auth.renew(refused)) return false;
    this.logger.info('source refused the credentials, renewed them', { url: this.safeUrl(url) });
    return true;
  }

  /** One request with its own deadline; never throws except when the caller's signal aborts. */
  private async attempt(
    url: string,
    credentials: Credentials,
    signal: AbortSignal | undefined,
  ): Promise<AttemptResult> {
    const { request } = this.source;
    // A deadline for the whole exchange (connect to last byte): axios' own `timeout` only
    // watches socket inactivity, which a slowly dribbling server never trips.
    const deadline = new AbortController();
    const timer = setTimeout(() => deadline.abort(new Error('timeout')), request.timeout.totalOf('millisecond'));
    const combined = signal === undefined ? deadline.signal : AbortSignal.any([signal, deadline.signal]);
    try {
      const response = await this.http.request<Buffer>({
        url,
        method: request.method,
        headers: {
          Accept: 'application/json',
          ...request.headers,
          ...credentials.headers,
          ...(request.method === 'POST' ? { 'Content-Type': 'application/json' } : {}),
        },
        data: request.method === 'POST' && request.body !== undefined ? JSON.stringify(request.body) : undefined,
        signal: combined,
      });
      if (response.status >= 200 && response.status < 300) return { ok: true, response };
      return {
        ok: false,
        failure: { kind: 'status', status: response.status },
        retryAfterMs: parseRetryAfterMs(headerValue(response, 'retry-after'), this.deps.clock.now()),
      };
    } catch (e: unknown) {
      if (signal?.aborted === true) throw abortError(signal);
      if (deadline.signal.aborted) return { ok: false, failure: { kind: 'timeout' } };
      if (axios.isAxiosError(e)) {
        const code = e.code ?? 'UNKNOWN';
        if (code === 'ECONNABORTED' || code === 'ETIMEDOUT') return { ok: false, failure: { kind: 'timeout' } };
        if (PERMANENT_AXIOS_CODES.has(code)) throw this.failureError(url, { kind: 'network', code }, 1, false, e);
        return { ok: false, failure: { kind: 'network', code } };
      }
      throw e;
    } finally {
      clearTimeout(timer);
    }
  }

  private failureError(
    url: string,
    failure: AttemptFailure,
    attempts: number,
    transient: boolean,
    cause?: unknown,
  ): SourceError {
    const { name, request } = this.source;
    const safe = this.safeUrl(url);
    const tries = `${attempts} attempt${attempts === 1 ? '' : 's'}`;
    const where = `source "${name}": ${request.method} ${safe}`;
    const details = { source: name, url: safe, attempts };
    switch (failure.kind) {
      case 'status':
        return new SourceError(
          SourceErrorCode.httpStatus,
          `${where} answered HTTP ${failure.status}${transient ? '' : ' (permanent, not retried)'} after ${tries}`,
          { ...details, status: failure.status },
          { retryable: transient, cause },
        );
      case 'timeout':
        return new SourceError(
          SourceErrorCode.timeout,
          `${where} timed out (request.timeout ${request.timeout.toString()}) after ${tries}`,
          details,
          { retryable: true, cause },
        );
      case 'network':
        return new SourceError(
          SourceErrorCode.network,
          `${where} failed with ${failure.code} after ${tries}`,
          details,
          { retryable: transient, cause },
        );
    }
  }
}

function headerValue(response: AxiosResponse, name: string): string | undefined {
  return textOf(response.headers[name]);
}

/** The response's headers for the paginator: names lower-cased (as Node gives them), repeats joined. */
function headersOf(response: AxiosResponse): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(response.headers as Record<string, unknown>)) {
    const text = textOf(value);
    if (text !== undefined) headers[name.toLowerCase()] = text;
  }
  return headers;
}

function textOf(value: unknown): string | undefined {
  if (typeof value === 'string') return value;
  if (Array.isArray(value)) return value.join(', ');
  return undefined;
}

function describeFailure(failure: AttemptFailure): string {
  switch (failure.kind) {
    case 'status':
      return `HTTP ${failure.status}`;
    case 'timeout':
      return 'timeout';
    case 'network':
      return failure.code;
  }
}

function abortError(signal: AbortSignal): Error {
  const reason: unknown = signal.reason;
  return reason instanceof Error ? reason : new Error('aborted');
}
