/**
 * Where a payload too big to travel on the bus went (the claim check), and what it must hash to.
 * The event carries all three as attributes; the loader reads the payload back and checks it.
 */
export interface PayloadRef {
  /**
   * The store's own name for the payload, derived from its hash: `payloads/<ab>/<sha256>` in the
   * data directory, `gs://<bucket>/<prefix><sha256>` in Cloud Storage. A store reads only
   * locations it would have produced itself, so an event cannot make the loader read anything else.
   */
  readonly location: string;
  /** SHA-256 of the payload, 64 lowercase hex digits. */
  readonly sha256: string;
  readonly bytes: number;
}

/**
 * Keeps payloads by their content hash. Storing the same content twice stores it once and gives
 * the same reference, so a retried publish costs nothing more.
 */
export interface PayloadStore {
  /** Where payloads go, for messages: `data/payloads`, `gs://bucket/prefix`. */
  readonly description: string;
  /** Stores `data`; durable once it resolves. */
  put(data: Buffer): Promise<PayloadRef>;
  /**
   * Reads what `ref` names. Throws `AppError`s: `PAYLOAD.FOREIGN_LOCATION` (not a location this
   * store gives out for that hash; not retryable), `PAYLOAD.NOT_FOUND` (retryable: the bus delivers
   * it again and in the end dead-letters it, reference and all), `PAYLOAD.CORRUPT` (size or hash
   * differ; not retryable), `PAYLOAD.UNAVAILABLE` (the store could not be reached; retryable).
   */
  get(ref: PayloadRef): Promise<Buffer>;
  close(): Promise<void>;
}
