import { Duration } from './duration';

const ms = (millis: number): Duration => Duration.from({ millis });
const seconds = (n: number): Duration => Duration.from({ seconds: n });
const minutes = (n: number): Duration => Duration.from({ minutes: n });
const MiB = 1024 * 1024;

/**
 * Every tunable with its default, in one place, nested like the config keys it backs
 * (`DEFAULTS.poller.leaseTtl` is the default of `poller.leaseTtl`); the tunables that are no
 * config key sit with the subsystem that uses them. Durations are `Duration`s, so a value carries
 * its unit; the config schema (schema.ts) takes its defaults from here, and the README and the
 * JSON Schema show them from there.
 */
export const DEFAULTS = {
  source: {
    /** How often a stream source is polled (and, locally, a batch source run). */
    pollInterval: seconds(30),
    /**
     * A poll cycle that would delete more than this share of a source's live entities is refused
     * (an API answering 200 with an empty list looks exactly like mass deletion)...
     */
    maxDeletedShare: 0.5,
    /** ...unless the source has fewer live entities than this (small sources swing widely). */
    deletionGuardMinEntities: 100,
    request: {
      /** Per request to a source API, from connect to the last byte. */
      timeout: seconds(30),
      /** Tries per page request, the first included; 5xx, 429, timeouts and resets are retried. */
      maxAttempts: 5,
      /** Backoff between tries: exponential from min to max, with full jitter; `Retry-After` wins when longer. */
      minBackoff: ms(500),
      maxBackoff: seconds(30),
      /** The longest `Retry-After` a source may ask for; longer requests wait this long (one odd header must not stall a source for hours). */
      maxRetryAfter: minutes(2),
      /** A guard against an API whose pagination never ends. */
      maxPages: 100_000,
    },
    pagination: {
      /** Records per page of `offset` and `page` pagination. */
      pageSize: 100,
    },
    /**
     * The largest record a source may have. 100 MiB is BigQuery's largest row (for load jobs; the
     * Storage Write API takes 10 MB per request), and what a loader instance can hold a few of.
     */
    maxRecordBytes: 100 * MiB,
    /**
     * `<table>_current` on BigQuery. `cdc`: the loader writes each change to it through the Storage
     * Write API's change data capture, and BigQuery applies them. `merge`: a MERGE compaction from
     * the changes, for where CDC is not available (emulators).
     */
    current: {
      mode: 'cdc',
      /**
       * CDC: a query reads the last background apply of the changes when it is at most this old, and
       * merges the newer changes at query time otherwise. Longer is cheaper per query, staler.
       * https://cloud.google.com/bigquery/docs/change-data-capture#manage_table_staleness
       */
      maxStaleness: minutes(15),
      /**
       * Merge: how long after an append the compaction runs (and how often while appends go on).
       * Each run is a MERGE job that reads `_current` whole, so this is a cost knob: 1 GB of
       * `_current` compacted every minute reads 1.4 TB a day. 0: within every append.
       */
      compactEvery: minutes(1),
    },
  },
  poller: {
    /** The `/healthz` port on Cloud Run. */
    port: 8080,
    /** How long a poller owns a source without renewing; a crashed poller's source is free after this. */
    leaseTtl: seconds(60),
    /** Events handed to the publisher at once; the snapshot is committed after each group is acked. */
    publishBatchSize: 1000,
  },

  loader: {
    port: 8081,
    host: '127.0.0.1',
    /** Group commit: rows from concurrent push requests are appended together, at most this many... */
    groupCommitMaxRows: 500,
    /**
     * ...or after this long since the first row of the group arrived. 0 appends on the next turn of
     * the event loop, and groups still form: while one append is in flight, the rows that arrive
     * meanwhile join the next group. A delay only makes sense when pushes are open-loop; Pub/Sub
     * push and the local bus cap the requests in flight, so a group can rarely fill and every push
     * waited the whole delay (10 ms made local delivery about 30% slower, `npm run bench`).
     */
    groupCommitMaxDelay: ms(0),
    /**
     * Push bodies above this are rejected. A Pub/Sub message is at most 10 MB, which base64 in the
     * push envelope turns into about 13.4 MB, plus attributes: 16 MiB leaves room for all of it.
     */
    maxBodyBytes: 16 * MiB,
    /** How much of a rejected push body `_rejected.payload` keeps. */
    rejectedPayloadMaxBytes: 64 * 1024,
    /** gcp: Pub/Sub push (request-driven, scales to zero); `pull` is the throughput choice. */
    delivery: 'push',
    /**
     * How far a push token's times may be off from our clock. NTP-synced hosts (Cloud Run's clocks are
     * Google's) drift by far less; google-auth-library allows 5 minutes, which only prolongs the life
     * of a leaked token.
     */
    pushTokenClockSkew: seconds(60),
    pull: {
      /** The loader's pull subscription on the topic (`loader.delivery: pull`), matching terraform/. */
      subscription: 'changefeed-loader-pull',
      /** Messages leased and not yet acked at once, across batches (the client's flow control). */
      maxOutstandingMessages: 20_000,
      /** Bytes leased and not yet acked at once. */
      maxOutstandingBytes: 100 * MiB,
      /** A batch is loaded at this many messages... */
      batchMaxMessages: 5_000,
      /** ...or this long after its first message. */
      batchMaxDelay: ms(200),
    },
  },

  /** The local bus: Pub/Sub's own defaults for dead-lettering and retry backoff. */
  bus: {
    maxDeliveryAttempts: 5,
    minBackoff: seconds(10),
    maxBackoff: seconds(600),
    /**
     * Push requests in flight at once (across ordering keys). Each one that waits for the loader's
     * append is a row of the next group, so this also bounds the group size: 128 delivered a
     * 10%-churn cycle about a third faster than 32 (`npm run bench`).
     */
    concurrency: 128,
    /**
     * How the local bus delivers to the loader in the same process: `batch` hands it batches (what
     * a Pub/Sub pull subscriber gets), `push` POSTs one push envelope per message to its HTTP
     * endpoint (what Pub/Sub push does).
     */
    delivery: 'batch',
    /** Messages per batch in `batch` delivery (one per ordering key); one batch is in flight at a time. */
    batchSize: 10_000,
    /** A push request that takes longer than this counts as a failed delivery. */
    ackDeadline: seconds(10),
    /** How often the dispatcher looks for due messages when it has nothing to do. */
    idlePoll: ms(50),
  },

  /** GCP resource names match terraform/'s defaults. */
  gcp: {
    pubsub: {
      topic: 'changefeed-events',
      /** The pull subscription on the dead-letter topic that `changefeed dlq` reads. */
      deadLetterSubscription: 'changefeed-dead-letters-pull',
      /**
       * How long one pull of the dead-letter subscription waits for messages. A pull on an empty
       * subscription waits this long (the emulator answers about a second before the deadline), so
       * every `changefeed dlq` listing ends with one such wait; an operator's tool, not a hot path.
       */
      deadLetterPullTimeout: seconds(5),
      /**
       * Removing or replaying dead letters finds them by reading the subscription; it gives up after
       * this many messages, and what was not found stays a dead letter (running again continues).
       */
      deadLetterMaxScanMessages: 10_000,
      /**
       * The poller's publishing. The Node client batches per ordering key, and one Publish request
       * carries messages of one key only (https://cloud.google.com/pubsub/docs/publisher#batching).
       * With one key per entity a cycle's messages mostly travel one per request, so throughput
       * comes from how many requests are in flight, not from batch size.
       */
      publish: {
        /** A Publish request carries at most 1000 messages (the API's limit; the client clamps to it)... */
        batchMaxMessages: 1000,
        /** ...and stays under the 10 MB request limit with room for the envelope (the client clamps to 9 MiB)... */
        batchMaxBytes: 9 * MiB,
        /**
         * ...and waits this long for more messages of its key. The client's default; longer only delays
         * every acknowledgement, because a key rarely has a second message in one cycle (measured on the
         * emulator: 50 ms was slower than 10 ms).
         */
        batchMaxDelay: ms(10),
        /**
         * Messages handed to the client and not yet acknowledged: bounds the Publish requests in flight and
         * the memory they hold. On the emulator (2 cores) 300 to 500 was the fastest; the real service has
         * longer round trips, where more in flight helps.
         */
        maxOutstandingMessages: 500,
        /** The same bound, in bytes of data, attributes and ordering key. */
        maxOutstandingBytes: 64 * MiB,
      },
    },
    firestore: {
      databaseId: '(default)',
      /** Root collection of the snapshot index, leases and cursors. */
      collection: 'changefeed',
      /**
       * Snapshot buckets. 2,000 entries make a poll of N entities cost N/2,000 to N/1,000 bucket
       * reads. A typical entry (36-character id, 22-character hash) weighs 69 bytes, so a full bucket
       * is ~140 KB; with 200-character ids ~470 KB, still under the byte bound below. It also keeps a
       * bucket far below Firestore's 40,000 index entries per document, should the maps be indexed.
       */
      entitiesPerBucket: 2_000,
      /**
       * Half of Firestore's 1 MiB document limit: a bucket is read whole by every poll and rewritten
       * whole when it is cut, and the margin absorbs anything the size estimate misses.
       * https://cloud.google.com/firestore/quotas#collections_documents_and_fields
       */
      maxBucketBytes: 512 * 1024,
    },
    bigquery: {
      dataset: 'changefeed',
      location: 'US',
    },
    storage: {
      /** Object names of claim-checked payloads start with this. */
      payloadPrefix: 'payloads/',
      /**
       * Payloads from this size on go up as a resumable upload, which survives a dropped connection
       * by resuming instead of starting over; smaller ones in one request, which costs one round
       * trip instead of two. 8 MiB is the client's own chunk size
       * (https://cloud.google.com/storage/docs/uploads-downloads#size).
       */
      resumableFromBytes: 8 * MiB,
      /** One request (an upload, a download) that has not answered by then is retried. */
      requestTimeout: seconds(60),
      /**
       * The client's retries of 408, 429, 5xx and network errors, with exponential backoff; the
       * upload is retried too because its precondition (`ifGenerationMatch: 0`) makes it idempotent.
       * Past them the store says PAYLOAD.UNAVAILABLE and the bus redelivers.
       */
      maxRetries: 3,
      /** All tries of one operation together stop after this. */
      retryTotalTimeout: seconds(120),
    },
  },

  /**
   * The claim check: an event whose record is larger than this travels without it, and the record
   * goes to the payload store (the data directory, or Cloud Storage) for the loader to fetch. 4 MiB
   * keeps every message well under Pub/Sub's 10 MB and a push body under `loader.maxBodyBytes`,
   * while almost every record travels inline (no extra round trip).
   */
  payloads: {
    inlineMaxBytes: 4 * MiB,
  },

  /** Where local mode keeps its SQLite files and the DuckDB warehouse. */
  dataDir: '.changefeed',

  /** `changefeed dlq`. */
  dlq: {
    /** How many dead letters `list` shows and `peek` opens when no --limit is given. */
    listLimit: 100,
    peekLimit: 1,
    /**
     * Dead letters republished per step of `dlq replay`: each step is one publish and, on Pub/Sub, one
     * read of the dead-letter subscription to remove them, and Ctrl-C takes effect between steps.
     */
    replayBatchSize: 100,
    /** How often `dlq replay` prints a progress line when its output is not a terminal. */
    plainProgressInterval: seconds(10),
  },

  /** The demo source API (`changefeed demo-api`, `npm start`): where it listens, how many carts, how lively. */
  demoApi: {
    port: 8787,
    carts: 200,
    /** Cart creations, updates and deletions per second; 0 keeps the data still. */
    changesPerSecond: 2,
    seed: 42,
  },
} as const;
