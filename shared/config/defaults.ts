/**
 * Every tunable with its default, in one place. Durations are in milliseconds.
 */
export const DEFAULTS = {
  /** How often a stream source is polled. */
  pollIntervalMs: 30_000,
  /** Per request to a source API, from connect to the last byte. */
  requestTimeoutMs: 30_000,
  /** Tries per page request, the first included; 5xx, 429, timeouts and resets are retried. */
  requestMaxAttempts: 5,
  /** Backoff between tries: exponential from min to max, with full jitter; `Retry-After` wins when longer. */
  requestMinBackoffMs: 500,
  requestMaxBackoffMs: 30_000,
  /** The longest `Retry-After` a source may ask for; longer requests wait this long (one odd header must not stall a source for hours). */
  requestMaxRetryAfterMs: 120_000,
  /** A guard against an API whose pagination never ends. */
  maxPages: 100_000,
  offsetPageSize: 100,
  /** How long a poller owns a source without renewing; a crashed poller's source is free after this. */
  leaseTtlMs: 60_000,
  /** Events handed to the publisher at once; the snapshot is committed after each group is acked. */
  publishBatchSize: 1000,

  loaderPort: 8081,
  pollerPort: 8080,
  /** Group commit: rows from concurrent push requests are appended together, at most this many... */
  groupCommitMaxRows: 500,
  /** ...or after this long since the first row of the group arrived. */
  groupCommitMaxDelayMs: 10,
  /**
   * Push bodies above this are rejected. A Pub/Sub message is at most 10 MB, which base64 in the
   * push envelope turns into about 13.4 MB, plus attributes: 16 MiB leaves room for all of it.
   */
  maxPushBodyBytes: 16 * 1024 * 1024,
  /** How much of a rejected push body `_rejected.payload` keeps. */
  rejectedPayloadMaxBytes: 64 * 1024,

  /** Local bus: Pub/Sub's own defaults for dead-lettering and retry backoff. */
  busMaxDeliveryAttempts: 5,
  busMinBackoffMs: 10_000,
  busMaxBackoffMs: 600_000,
  /** Push requests in flight at once (across ordering keys). */
  busConcurrency: 32,
  /** A push request that takes longer than this counts as a failed delivery. */
  busAckDeadlineMs: 10_000,
  /** How often the dispatcher looks for due messages when it has nothing to do. */
  busIdlePollMs: 50,

  dataDir: '.changefeed',

  /** `changefeed dlq`: how many dead letters `list` shows and `peek` opens when no --limit is given. */
  dlqListLimit: 100,
  dlqPeekLimit: 1,
  /**
   * Dead letters republished per step of `dlq replay`: each step is one publish and, on Pub/Sub, one
   * read of the dead-letter subscription to remove them, and Ctrl-C takes effect between steps.
   */
  dlqReplayBatchSize: 100,
  /** How often `dlq replay` prints a progress line when its output is not a terminal. */
  dlqPlainProgressMs: 10_000,

  /** GCP resource names, matching terraform/'s defaults. */
  pubsubTopic: 'changefeed-events',
  pubsubDeadLetterSubscription: 'changefeed-dead-letters-pull',
  firestoreCollection: 'changefeed',
  bigqueryDataset: 'changefeed',

  /** The demo source API (`changefeed demo-api`, `npm start`): where it listens, how many carts, how lively. */
  demoApiPort: 8787,
  demoCarts: 200,
  /** Cart creations, updates and deletions per second; 0 keeps the data still. */
  demoChangesPerSecond: 2,
  demoSeed: 42,
} as const;
