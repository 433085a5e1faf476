import { GrpcStatus } from '@google-cloud/firestore';
import { AppError } from '../../errors';

/**
 * gRPC codes a later attempt can get past: the service was unreachable, overloaded, too slow, or
 * aborted the transaction for contention. The client has already retried these (a transaction up
 * to 5 attempts) by the time they reach us. Everything else (INVALID_ARGUMENT, PERMISSION_DENIED,
 * NOT_FOUND, FAILED_PRECONDITION, UNKNOWN, errors without a code) fails the same way again.
 * https://cloud.google.com/firestore/docs/understand-error-codes
 */
const TRANSIENT_GRPC_CODES: ReadonlySet<number> = new Set([
  GrpcStatus.UNAVAILABLE,
  GrpcStatus.DEADLINE_EXCEEDED,
  GrpcStatus.ABORTED,
  GrpcStatus.RESOURCE_EXHAUSTED,
  GrpcStatus.INTERNAL,
]);

/**
 * The one place where a failure of the Firestore snapshot store becomes an `AppError`: transient
 * ones `SNAPSHOT.STORE_UNAVAILABLE` (retryable), the rest `SNAPSHOT.STORE_FAILED`. An `AppError`
 * (lease lost, corrupt data) passes through unchanged.
 */
export function firestoreSnapshotError(what: string, e: unknown): AppError {
  if (e instanceof AppError) return e;
  const code = typeof e === 'object' && e !== null ? (e as { code?: unknown }).code : undefined;
  const grpcCode = typeof code === 'number' && Number.isInteger(code) ? code : undefined;
  const retryable = grpcCode !== undefined && TRANSIENT_GRPC_CODES.has(grpcCode);
  return new AppError(
    retryable ? 'SNAPSHOT.STORE_UNAVAILABLE' : 'SNAPSHOT.STORE_FAILED',
    `Snapshot store (Firestore): ${what} failed: ${messageOf(e)}`,
    {
      retryable,
      cause: e,
      details: { grpcCode: grpcCode === undefined ? null : (GrpcStatus[grpcCode] ?? grpcCode) },
    },
  );
}

/** Like `errorMessage`, but also for errors from another realm (jest's VM context), which fail `instanceof Error`. */
function messageOf(e: unknown): string {
  if (typeof e === 'object' && e !== null && 'message' in e && typeof e.message === 'string') return e.message;
  return String(e);
}
