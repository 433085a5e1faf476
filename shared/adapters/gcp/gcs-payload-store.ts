import { CRC32C, type Bucket, type Storage } from '@google-cloud/storage';
import { DEFAULTS } from '../../config';
import { AppError } from '../../errors';
import type { PayloadRef, PayloadStore } from '../../ports';
import { foreignLocation, isPayloadSha256, payloadSha256, verifyPayload } from '../../payloads/verify-payload';
import { httpStatusOf, payloadUnavailable, type PayloadFailureContext } from './gcs-payload-errors';

export interface GcsPayloadStoreOptions {
  readonly bucket: string;
  /** Object-name prefix, '' or segments ending in `/` (`gcp.storage.payloadPrefix`). */
  readonly prefix: string;
  /** See DEFAULTS.gcp.storage.resumableFromBytes. */
  readonly resumableFromBytes?: number;
}

/** HTTP 412: `ifGenerationMatch: 0` failed, so the object already exists. */
const PRECONDITION_FAILED = 412;
const NOT_FOUND = 404;

/**
 * The claim check's payloads in a Cloud Storage bucket, one object per content hash:
 * `gs://<bucket>/<prefix><sha256>`. Takes a ready-made `Storage` client (see
 * createGcsPayloadStore), whose retries and request timeout apply.
 *
 * - put never overwrites: the upload carries `ifGenerationMatch: 0`, and its 412 when the object
 *   exists means "already stored" (the name is the content's hash). That precondition is also what
 *   lets the client retry an upload safely
 *   (https://cloud.google.com/storage/docs/request-preconditions). The CRC32C goes with the upload,
 *   so Cloud Storage refuses bytes damaged on the way, and the client checks the stored object's.
 * - get reads only the one name it derives from the reference's hash, checked before any request,
 *   so an event cannot make the loader read another object or bucket; what comes back is checked
 *   against the reference's size and SHA-256.
 */
export class GcsPayloadStore implements PayloadStore {
  readonly description: string;
  private readonly bucket: Bucket;
  private readonly bucketName: string;
  private readonly prefix: string;
  private readonly resumableFromBytes: number;

  constructor(storage: Storage, options: GcsPayloadStoreOptions) {
    this.bucketName = options.bucket;
    this.prefix = options.prefix;
    this.bucket = storage.bucket(options.bucket);
    this.resumableFromBytes = options.resumableFromBytes ?? DEFAULTS.gcp.storage.resumableFromBytes;
    this.description = `gs://${options.bucket}/${options.prefix}`;
  }

  async put(data: Buffer): Promise<PayloadRef> {
    const sha256 = payloadSha256(data);
    const name = this.objectName(sha256);
    const ref: PayloadRef = { location: this.locationOf(sha256), sha256, bytes: data.length };
    const crc32c = new CRC32C();
    crc32c.update(data);
    try {
      await this.bucket.file(name).save(data, {
        resumable: data.length >= this.resumableFromBytes,
        validation: 'crc32c',
        preconditionOpts: { ifGenerationMatch: 0 },
        metadata: {
          contentType: 'application/octet-stream',
          crc32c: crc32c.toString(),
          // For someone browsing the bucket: what the name means.
          metadata: { sha256 },
        },
      });
    } catch (e: unknown) {
      const status = httpStatusOf(e);
      if (status === PRECONDITION_FAILED) return ref;
      // An upload has no object to miss: its 404 is the bucket's.
      throw this.unavailable(e, { location: ref.location, access: 'write', bucketMissing: status === NOT_FOUND });
    }
    return ref;
  }

  async get(ref: PayloadRef): Promise<Buffer> {
    // Compared whole, after checking the hash's form: a hash like `../x` or one with a `/` never
    // becomes part of a request.
    if (!isPayloadSha256(ref.sha256) || ref.location !== this.locationOf(ref.sha256)) {
      throw foreignLocation(ref, this.description);
    }
    let data: Buffer;
    try {
      [data] = await this.bucket.file(this.objectName(ref.sha256)).download({ validation: 'crc32c' });
    } catch (e: unknown) {
      if (httpStatusOf(e) !== NOT_FOUND) throw this.unavailable(e, { location: ref.location, access: 'read' });
      if (await this.bucketIsMissing())
        throw this.unavailable(e, { location: ref.location, access: 'read', bucketMissing: true });
      throw new AppError('PAYLOAD.NOT_FOUND', `payload ${ref.location} does not exist in ${this.description}`, {
        cause: e,
        retryable: true,
        details: { location: ref.location, bucket: this.bucketName },
      });
    }
    return verifyPayload(ref, data);
  }

  /** The store holds no connection of its own; the caller closes the client it passed in. */
  async close(): Promise<void> {}

  private objectName(sha256: string): string {
    return `${this.prefix}${sha256}`;
  }

  private locationOf(sha256: string): string {
    return `gs://${this.bucketName}/${this.objectName(sha256)}`;
  }

  private unavailable(e: unknown, context: Omit<PayloadFailureContext, 'bucket'>): AppError {
    return payloadUnavailable(e, { ...context, bucket: this.bucketName });
  }

  /**
   * Whether a download's 404 was the bucket's rather than the object's (the two answers differ only
   * in their wording). Asked by listing at most one object, which the loader's
   * roles/storage.objectViewer allows (`storage.buckets.get` it does not); anything but the
   * bucket's own 404 counts as "it exists", so the object is what is missing.
   */
  private async bucketIsMissing(): Promise<boolean> {
    try {
      await this.bucket.getFiles({ maxResults: 1, prefix: this.prefix, autoPaginate: false });
      return false;
    } catch (e: unknown) {
      return httpStatusOf(e) === NOT_FOUND;
    }
  }
}
