import { AppError, errorMessage } from '../../errors';

/**
 * The gRPC status codes the Pub/Sub API answers with.
 * https://grpc.github.io/grpc/core/md_doc_statuscodes.html
 */
export const GrpcStatus = {
  CANCELLED: 1,
  UNKNOWN: 2,
  INVALID_ARGUMENT: 3,
  DEADLINE_EXCEEDED: 4,
  NOT_FOUND: 5,
  ALREADY_EXISTS: 6,
  PERMISSION_DENIED: 7,
  RESOURCE_EXHAUSTED: 8,
  FAILED_PRECONDITION: 9,
  ABORTED: 10,
  OUT_OF_RANGE: 11,
  UNIMPLEMENTED: 12,
  INTERNAL: 13,
  UNAVAILABLE: 14,
  DATA_LOSS: 15,
  UNAUTHENTICATED: 16,
} as const;
export type GrpcStatus = (typeof GrpcStatus)[keyof typeof GrpcStatus];

/**
 * Codes a later attempt can get past: the set the client library itself retries for Publish
 * (`cancelled_unknown_deadline_exceeded_resource_exhausted_aborted_internal_unavailable` in its
 * publisher_client_config.json). When one of these reaches us, the client's own retries
 * (up to 600 s) have already been spent.
 */
const TRANSIENT: ReadonlySet<number> = new Set([
  GrpcStatus.CANCELLED,
  GrpcStatus.UNKNOWN,
  GrpcStatus.DEADLINE_EXCEEDED,
  GrpcStatus.RESOURCE_EXHAUSTED,
  GrpcStatus.ABORTED,
  GrpcStatus.INTERNAL,
  GrpcStatus.UNAVAILABLE,
]);

/** The gRPC status of an error from the Pub/Sub client (its `ServiceError` and `PublishError` carry one). */
export function grpcStatusOf(e: unknown): number | undefined {
  if (typeof e !== 'object' || e === null) return undefined;
  const code = (e as { code?: unknown }).code;
  return typeof code === 'number' && Number.isInteger(code) ? code : undefined;
}

/** What a failed Pub/Sub call means for the caller, as the suffix of an `AppError` code. */
export const PubSubFailure = {
  /** The service could not be reached or was overloaded; a later attempt may succeed. */
  unavailable: 'UNAVAILABLE',
  /** The topic or subscription does not exist (deleted, or a wrong name in the config). */
  notFound: 'NOT_FOUND',
  /** The service account lacks a role, or has no valid credentials. */
  permissionDenied: 'PERMISSION_DENIED',
  /** The request can never succeed as it is (e.g. a message over 10 MB, a bad attribute). */
  invalid: 'INVALID',
  /** Refused for another reason that retrying the same request does not fix. */
  rejected: 'REJECTED',
  /** No gRPC status at all: unknown, so counted as transient (see `isRetryable`). */
  failed: 'FAILED',
} as const;
export type PubSubFailure = (typeof PubSubFailure)[keyof typeof PubSubFailure];

/** Decides, once for every Pub/Sub adapter, which failure an SDK error is. */
export function classifyPubSubError(e: unknown): { readonly failure: PubSubFailure; readonly retryable: boolean } {
  // The client throws TypeError synchronously for data that is not bytes or a non-string attribute.
  if (e instanceof TypeError) return { failure: PubSubFailure.invalid, retryable: false };
  const status = grpcStatusOf(e);
  if (status === undefined) return { failure: PubSubFailure.failed, retryable: true };
  if (TRANSIENT.has(status)) return { failure: PubSubFailure.unavailable, retryable: true };
  switch (status) {
    case GrpcStatus.NOT_FOUND:
      return { failure: PubSubFailure.notFound, retryable: false };
    case GrpcStatus.PERMISSION_DENIED:
    case GrpcStatus.UNAUTHENTICATED:
      return { failure: PubSubFailure.permissionDenied, retryable: false };
    case GrpcStatus.INVALID_ARGUMENT:
    case GrpcStatus.OUT_OF_RANGE:
      return { failure: PubSubFailure.invalid, retryable: false };
    default:
      return { failure: PubSubFailure.rejected, retryable: false };
  }
}

/**
 * Wraps an SDK error as `<prefix>.<failure>` (e.g. `PUBLISH.NOT_FOUND`), keeping it as the cause and
 * its gRPC status in `details.grpcStatus`.
 */
export function toPubSubError(
  prefix: string,
  what: string,
  e: unknown,
  details: Readonly<Record<string, unknown>> = {},
): AppError {
  if (e instanceof AppError) return e;
  const { failure, retryable } = classifyPubSubError(e);
  const grpcStatus = grpcStatusOf(e);
  return new AppError(`${prefix}.${failure}`, `${what}: ${errorMessage(e)}`, {
    retryable,
    cause: e,
    details: { ...details, ...(grpcStatus === undefined ? {} : { grpcStatus }) },
  });
}
