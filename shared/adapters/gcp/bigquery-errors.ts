import { AppError, errorMessage } from '../../errors';

/**
 * Whether a BigQuery failure is transient is decided here, once, for both APIs the adapter uses.
 *
 * The rule: an error caused by the *data or the statement* is permanent (the same request fails
 * the same way, so the loader records the rows as rejected); an error caused by the *environment*
 * (an outage, a quota, a missing permission or dataset, a table not yet visible) is retryable,
 * because fixing the environment makes the same request pass. Treating a missing permission as
 * permanent would move every message of a misconfigured deployment into `_rejected`.
 */

/**
 * gRPC status codes (Storage Write API) that are the request's own fault.
 * https://cloud.google.com/bigquery/docs/write-api#error_handling
 * https://grpc.github.io/grpc/core/md_doc_statuscodes.html
 */
const PERMANENT_GRPC_CODES: ReadonlyMap<number, string> = new Map([
  [3, 'INVALID_ARGUMENT'],
  [6, 'ALREADY_EXISTS'],
  [9, 'FAILED_PRECONDITION'],
  [11, 'OUT_OF_RANGE'],
  [12, 'UNIMPLEMENTED'],
]);

/** Names of the retryable ones, for log lines; every code not listed above is retried. */
const GRPC_CODE_NAMES: ReadonlyMap<number, string> = new Map([
  [1, 'CANCELLED'],
  [2, 'UNKNOWN'],
  [4, 'DEADLINE_EXCEEDED'],
  [5, 'NOT_FOUND'],
  [7, 'PERMISSION_DENIED'],
  [8, 'RESOURCE_EXHAUSTED'],
  [10, 'ABORTED'],
  [13, 'INTERNAL'],
  [14, 'UNAVAILABLE'],
  [16, 'UNAUTHENTICATED'],
  ...PERMANENT_GRPC_CODES,
]);

/**
 * REST error reasons that are the request's own fault.
 * https://cloud.google.com/bigquery/docs/error-messages
 * `notFound` is here because on the REST side it names what a statement refers to (a user's
 * query on a table that does not exist); the adapter creates its own tables before using them.
 */
const PERMANENT_REST_REASONS = new Set([
  'invalid',
  'invalidQuery',
  'notFound',
  'duplicate',
  'responseTooLarge',
  'resourcesExceeded',
]);

export type BigQueryApi = 'rest' | 'storage-write';

/** What a failure says about itself: the gRPC status or the REST reason, as far as it tells. */
export interface BigQueryFailure {
  readonly api: BigQueryApi;
  /** gRPC status name (`INVALID_ARGUMENT`) or REST reason (`invalidQuery`), when known. */
  readonly status: string | null;
  readonly retryable: boolean;
  readonly message: string;
}

export function describeFailure(e: unknown, api: BigQueryApi): BigQueryFailure {
  const message = firstLine(errorMessage(e));
  if (api === 'storage-write') {
    const code = grpcCode(e);
    if (code === undefined) return { api, status: null, retryable: true, message };
    return {
      api,
      status: GRPC_CODE_NAMES.get(code) ?? String(code),
      retryable: !PERMANENT_GRPC_CODES.has(code),
      message,
    };
  }
  const reason = restReason(e);
  const httpStatus = httpCode(e);
  if (reason !== undefined) return { api, status: reason, retryable: !PERMANENT_REST_REASONS.has(reason), message };
  // No reason: a bare HTTP status, or a network error (ECONNREFUSED, socket hang up), which is transient.
  const retryable = httpStatus === undefined || httpStatus >= 500 || httpStatus === 429 || httpStatus === 408;
  return { api, status: httpStatus === undefined ? null : `HTTP ${httpStatus}`, retryable, message };
}

/** Wraps a BigQuery failure once into an `AppError`; an `AppError` passes through unchanged. */
export function bigQueryError(code: string, what: string, e: unknown, api: BigQueryApi): AppError {
  if (e instanceof AppError) return e;
  const failure = describeFailure(e, api);
  return new AppError(code, `BigQuery: ${what} failed: ${failure.message}`, {
    retryable: failure.retryable,
    cause: e,
    details: { api, status: failure.status },
  });
}

function grpcCode(e: unknown): number | undefined {
  const code = field(e, 'code');
  return typeof code === 'number' ? code : undefined;
}

function httpCode(e: unknown): number | undefined {
  const code = field(e, 'code');
  return typeof code === 'number' && code >= 100 && code < 600 ? code : undefined;
}

/** The first `errors[].reason` of a REST ApiError or of a failed job's error result. */
function restReason(e: unknown): string | undefined {
  const errors = field(e, 'errors');
  if (!Array.isArray(errors)) return undefined;
  for (const item of errors as unknown[]) {
    const reason = field(item, 'reason');
    if (typeof reason === 'string' && reason !== '') return reason;
  }
  return undefined;
}

function field(value: unknown, name: string): unknown {
  return typeof value === 'object' && value !== null ? (value as Record<string, unknown>)[name] : undefined;
}

function firstLine(text: string): string {
  return text.split('\n')[0] ?? '';
}
