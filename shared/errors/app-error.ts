/**
 * Errors carry a stable `code` that logs and tests can match on, whether retrying can help
 * (`retryable`), and the `cause` they wrap. Whether an error is transient is decided once, where
 * it is created (usually in an adapter), never re-guessed by callers. Every code is described in
 * `codes.ts` (what it means, what to do); a unit test keeps that catalogue and the source in step.
 */
export interface AppErrorOptions {
  readonly retryable?: boolean;
  readonly cause?: unknown;
  readonly details?: Readonly<Record<string, unknown>>;
}

export class AppError extends Error {
  readonly code: string;
  readonly retryable: boolean;
  readonly details: Readonly<Record<string, unknown>>;

  constructor(code: string, message: string, options: AppErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
    this.retryable = options.retryable ?? false;
    this.details = options.details ?? {};
  }
}

/** One problem found while validating input, with where it was found. */
export interface ValidationIssue {
  /** Where the bad value sits, e.g. `sources[0].request.url` or `message.attributes.ce-id`. */
  readonly path: string;
  readonly message: string;
}

/** Input that can never be valid: bad config, malformed push bodies, bad CLI flags. */
export class ValidationError extends AppError {
  readonly issues: readonly ValidationIssue[];

  constructor(message: string, issues: readonly ValidationIssue[] = [], options: AppErrorOptions = {}) {
    super('VALIDATION', message, {
      ...options,
      retryable: false,
    });
    this.issues = issues;
  }
}

/** True when retrying the operation that threw `e` may succeed. Unknown errors count as transient. */
export function isRetryable(e: unknown): boolean {
  return e instanceof AppError ? e.retryable : true;
}
