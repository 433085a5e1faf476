import { AppError, type AppErrorOptions } from '../errors';

/** Every way reading a source API can fail; the code is stable for logs, tests and alerts. */
export const SourceErrorCode = {
  /** The API answered a status that is not 2xx (after retries, when the status is transient). */
  httpStatus: 'SOURCE.HTTP_STATUS',
  /** No complete answer within `request.timeout` (after retries). */
  timeout: 'SOURCE.TIMEOUT',
  /** Connection refused, reset, DNS failure... (after retries). */
  network: 'SOURCE.NETWORK',
  /** The body is not JSON, or has no array of records where `recordsPath` points. Never retried. */
  badPayload: 'SOURCE.BAD_PAYLOAD',
  /** An environment variable that auth names is not set. */
  missingCredential: 'SOURCE.MISSING_CREDENTIAL',
  /** The OAuth2 token endpoint refused the client, failed, or answered something that is not a Bearer token. */
  tokenRequest: 'SOURCE.TOKEN_REQUEST',
  /** More pages than `request.maxPages`: pagination that never ends. */
  tooManyPages: 'SOURCE.TOO_MANY_PAGES',
} as const;
export type SourceErrorCode = (typeof SourceErrorCode)[keyof typeof SourceErrorCode];

export interface SourceErrorDetails {
  readonly source: string;
  /** The request URL with secrets redacted. */
  readonly url?: string;
  readonly status?: number;
  readonly attempts?: number;
}

/**
 * A failure to read a source API. `retryable` says whether a later cycle may succeed where this
 * one gave up (a 503 may; a 404 or a malformed body will not).
 */
export class SourceError extends AppError {
  declare readonly code: SourceErrorCode;
  readonly source: string;
  readonly status: number | undefined;
  readonly attempts: number | undefined;

  constructor(
    code: SourceErrorCode,
    message: string,
    details: SourceErrorDetails,
    options: Omit<AppErrorOptions, 'details'> = {},
  ) {
    super(code, message, { ...options, details: { ...details } });
    this.source = details.source;
    this.status = details.status;
    this.attempts = details.attempts;
  }
}

export function isSourceError(e: unknown): e is SourceError {
  return e instanceof SourceError;
}
