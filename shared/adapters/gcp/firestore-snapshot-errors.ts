import { GrpcStatus } from '@google-cloud/firestore';
import { AppError, errorMessage } from '../../errors';
import type { StoredEntry } from './firestore-snapshot-buckets';

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
    `Snapshot store (Firestore): ${what} failed: ${errorMessage(e)}`,
    {
      retryable,
      cause: e,
      details: { grpcCode: grpcCode === undefined ? null : (GrpcStatus[grpcCode] ?? grpcCode) },
    },
  );
}

/** A document that does not hold what this store writes: nothing can fix it by retrying. */
export function corruptSnapshot(where: string, what: string): AppError {
  return new AppError('SNAPSHOT.CORRUPT', `Snapshot store (Firestore): ${where} holds ${what}`, {
    retryable: false,
    details: { where },
  });
}

export function snapshotStoreClosed(what: string): AppError {
  return new AppError('SNAPSHOT.CLOSED', `Snapshot store: ${what}: the store is closed`, { retryable: false });
}

export function invalidStoreOption(name: string, expected: string): AppError {
  return new AppError('SNAPSHOT.INVALID_OPTION', `FirestoreSnapshotStore: ${name} must be ${expected}`, {
    retryable: false,
  });
}

export function entryTooLarge(source: string, e: StoredEntry, maxBytes: number): AppError {
  const preview = e.entityId.length > 80 ? `${e.entityId.slice(0, 80)}…` : e.entityId;
  return new AppError(
    'SNAPSHOT.ENTRY_TOO_LARGE',
    `The snapshot entry of "${preview}" in "${source}" would take ${e.bytes} bytes; a bucket of ${maxBytes * 8} bytes takes entries up to ${maxBytes} bytes. Nothing was committed.`,
    { retryable: false, details: { source, entryBytes: e.bytes, maxEntryBytes: maxBytes } },
  );
}

export function invalidEntryHash(source: string, e: StoredEntry): AppError {
  return new AppError(
    'SNAPSHOT.INVALID_ENTRY',
    `The snapshot entry of "${e.entityId.slice(0, 80)}" in "${source}" has a hash that is not valid Unicode (an unpaired surrogate). Nothing was committed.`,
    { retryable: false, details: { source } },
  );
}
