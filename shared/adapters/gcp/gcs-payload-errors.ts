import { AppError, errorMessage } from '../../errors';

/** The HTTP status of an error from the Cloud Storage client (its `ApiError` carries it as `code`). */
export function httpStatusOf(e: unknown): number | undefined {
  if (typeof e !== 'object' || e === null) return undefined;
  const code = (e as { code?: unknown }).code;
  return typeof code === 'number' && Number.isInteger(code) ? code : undefined;
}

/** Which side of the claim check failed: it decides the role the message asks for. */
export type PayloadAccess = 'write' | 'read';

/**
 * The roles each side needs on the bucket (terraform/storage.tf grants them): the poller creates
 * objects, the loader reads them; neither may delete or overwrite.
 * https://cloud.google.com/storage/docs/access-control/iam-roles
 */
const ROLE: Readonly<Record<PayloadAccess, string>> = {
  write: "the poller's service account needs roles/storage.objectCreator on it",
  read: "the loader's service account needs roles/storage.objectViewer on it",
};

export interface PayloadFailureContext {
  readonly bucket: string;
  /** `gs://bucket/name` of the object, for the message and the details. */
  readonly location: string;
  readonly access: PayloadAccess;
  /** The request answered 404 and the bucket itself turned out to be missing. */
  readonly bucketMissing?: boolean;
}

/**
 * Maps what the client threw, once its own retries are spent, to the port's errors. Everything
 * here is PAYLOAD.UNAVAILABLE and retryable: a denied role, a missing bucket, an outage or a
 * network error are all fixed outside the event, and until then the bus redelivers it and in the
 * end dead-letters it, reference and all, for a replay. (A missing object is decided by the
 * caller: see GcsPayloadStore.get.)
 */
export function payloadUnavailable(e: unknown, context: PayloadFailureContext): AppError {
  const status = httpStatusOf(e);
  const { bucket, location, access, bucketMissing = false } = context;
  const verb = access === 'write' ? 'write' : 'read';
  let why: string;
  if (bucketMissing) {
    why = `bucket ${bucket} does not exist (gcp.storage.payloadBucket; Terraform creates it)`;
  } else if (status === 401) {
    why = `Cloud Storage found no valid credentials (401) for bucket ${bucket}: check the service's identity; ${ROLE[access]}`;
  } else if (status === 403) {
    why = `access to bucket ${bucket} was denied (403): ${ROLE[access]}`;
  } else if (status !== undefined) {
    why = `Cloud Storage answered ${status} for bucket ${bucket}`;
  } else {
    why = `Cloud Storage could not be reached for bucket ${bucket}`;
  }
  return new AppError('PAYLOAD.UNAVAILABLE', `cannot ${verb} payload ${location}: ${why}: ${errorMessage(e)}`, {
    cause: e,
    retryable: true,
    details: { location, bucket, access, ...(status === undefined ? {} : { status }) },
  });
}
