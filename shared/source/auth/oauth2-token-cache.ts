import type { Logger } from '../../log';
import type { Clock } from '../../ports';
import type { IssuedToken } from './oauth2-token-endpoint';
import type { Credentials, SourceAuth } from './source-auth';

export interface OAuth2TokenCacheDeps {
  /** Asks the token endpoint for a new token. */
  readonly issue: (signal?: AbortSignal) => Promise<IssuedToken>;
  readonly close?: () => void;
  readonly clock: Clock;
  readonly logger: Logger;
  /** How long before its expiry a token is replaced; capped at half the token's lifetime. */
  readonly refreshBeforeMs: number;
}

interface CachedToken {
  readonly credentials: Credentials;
  /** When it is replaced, in clock milliseconds; Infinity when the server gave no expires_in. */
  readonly refreshAtMs: number;
}

/**
 * One OAuth2 token shared by every request of a source: fetched on first use, replaced shortly
 * before it expires, and forgotten when the API refuses it. Concurrent requests that find no
 * valid token wait for one token request between them rather than each sending their own.
 */
export class OAuth2TokenCache implements SourceAuth {
  readonly secretQueryParams: readonly string[] = [];
  private token: CachedToken | undefined;
  private inFlight: Promise<CachedToken> | undefined;

  constructor(private readonly deps: OAuth2TokenCacheDeps) {}

  async credentials(signal?: AbortSignal): Promise<Credentials> {
    const token = this.token;
    if (token !== undefined && this.deps.clock.now().getTime() < token.refreshAtMs) return token.credentials;
    this.inFlight ??= this.fetch().finally(() => {
      this.inFlight = undefined;
    });
    const fetched = await abortable(this.inFlight, signal);
    return fetched.credentials;
  }

  /**
   * The API answered 401 to `refused`. The token is forgotten only if it is still the current
   * one: a request that carried it while another already replaced it just tries the new one.
   */
  renew(refused: Credentials): boolean {
    if (this.token !== undefined && this.token.credentials === refused) this.token = undefined;
    return true;
  }

  close(): void {
    this.deps.close?.();
  }

  private async fetch(): Promise<CachedToken> {
    // No caller's signal: the request is shared, and it has its own timeout.
    const issued = await this.deps.issue();
    const now = this.deps.clock.now().getTime();
    const lifetime = issued.expiresInMs;
    const refreshAtMs =
      lifetime === undefined
        ? Number.POSITIVE_INFINITY
        : now + lifetime - Math.min(this.deps.refreshBeforeMs, lifetime / 2);
    const token: CachedToken = {
      credentials: { headers: { Authorization: `Bearer ${issued.accessToken}` }, query: {} },
      refreshAtMs,
    };
    this.token = token;
    this.deps.logger.info('source auth token obtained', {
      expiresInSeconds: lifetime === undefined ? null : Math.round(lifetime / 1000),
    });
    return token;
  }
}

/** `promise`, or the reason of `signal` as soon as it aborts; the promise itself runs on. */
function abortable<T>(promise: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (signal === undefined) return promise;
  signal.throwIfAborted();
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(signal.reason instanceof Error ? signal.reason : new Error('aborted'));
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        resolve(value);
      },
      (e: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(e instanceof Error ? e : new Error(String(e)));
      },
    );
  });
}
