/**
 * Every `AppError` code changefeed raises (and the push-auth refusal reasons it logs), with what
 * it means, whether retrying can help and what an operator does about it. The README's error-code
 * table is rendered from this (`renderErrorCodeTable`), and `tests/unit/errors/error-codes.test.ts`
 * fails when the source raises a code that is missing here, or this lists one nothing raises.
 */

/**
 * Whether an error with this code is retried: `yes` and `no` are fixed by the code; `depends`
 * when the adapter decides per failure (the `retryable` flag of the error itself says which).
 */
export const Retry = { yes: 'yes', no: 'no', depends: 'depends' } as const;
export type Retry = (typeof Retry)[keyof typeof Retry];

export interface ErrorCodeInfo {
  readonly retry: Retry;
  /** What happened, in the words of someone reading a log line. */
  readonly meaning: string;
  /** What the operator does about it. */
  readonly action: string;
}

/**
 * The suffixes every Pub/Sub adapter appends to its prefix (`PUBLISH.NOT_FOUND`), one per outcome
 * of `classifyPubSubError` in shared/adapters/gcp/pubsub-errors.ts (the test checks they agree).
 * Meanings start in lower case: `pubSubFamily` puts the failed call in front of them.
 */
export const PUBSUB_FAILURES = {
  UNAVAILABLE: {
    retry: Retry.yes,
    meaning: 'Pub/Sub could not be reached or was overloaded, after the client library’s own retries',
    action: 'Nothing, if it passes; if it persists, check the Pub/Sub status page and the network',
  },
  NOT_FOUND: {
    retry: Retry.no,
    meaning: 'the topic or subscription does not exist',
    action: 'Create it (Terraform does), or fix its name in the config (gcp.pubsub) or the flags',
  },
  PERMISSION_DENIED: {
    retry: Retry.no,
    meaning: 'the service account lacks a role, or has no valid credentials',
    action: 'Grant the role named in the message (publisher on the topic, subscriber on the subscription)',
  },
  INVALID: {
    retry: Retry.no,
    meaning: 'the request can never succeed as it is (a message over 10 MB, a bad attribute)',
    action: 'Look at the message it names; it is a bug or an oversized record',
  },
  REJECTED: {
    retry: Retry.no,
    meaning: 'Pub/Sub refused the request for another reason that retrying does not fix',
    action: 'Read the gRPC status in `details.grpcStatus` and the message',
  },
  FAILED: {
    retry: Retry.yes,
    meaning: 'the call failed without a gRPC status, so it counts as transient',
    action: 'Nothing, if it passes; otherwise the message and the cause say what broke',
  },
} as const satisfies Record<string, ErrorCodeInfo>;
export type PubSubFailureSuffix = keyof typeof PUBSUB_FAILURES;

type Family<P extends string> = { readonly [S in PubSubFailureSuffix as `${P}.${S}`]: ErrorCodeInfo };

/** `<prefix>.<failure>` for every Pub/Sub failure, the meaning saying which call failed. */
function pubSubFamily<P extends string>(prefix: P, call: string): Family<P> {
  const entries = Object.entries(PUBSUB_FAILURES).map(([suffix, info]) => [
    `${prefix}.${suffix}`,
    { ...info, meaning: `${call}: ${info.meaning}` },
  ]);
  return Object.fromEntries(entries) as Family<P>;
}

export const ERROR_CODES = {
  VALIDATION: {
    retry: Retry.no,
    meaning:
      'Input that can never be valid: the config file, a push body, CLI flags; every issue is listed with its path',
    action: 'Fix the input at the path (and file:line:col) the message names',
  },

  'CONFIG.UNREADABLE': {
    retry: Retry.depends,
    meaning:
      'The config file could not be read (a local path, or a gs:// object); a 404 or 403 from Cloud Storage is final',
    action: 'Check the path or `CHANGEFEED_CONFIG`, and that the service account can read the object',
  },
  'CONFIG.BAD_LOCATION': {
    retry: Retry.no,
    meaning: 'The config location is not a gs://bucket/object URL',
    action: 'Fix the config location',
  },
  'CONFIG.NO_PROJECT': {
    retry: Retry.no,
    meaning: 'backend: gcp without a project',
    action: 'Set gcp.projectId in the config, or GOOGLE_CLOUD_PROJECT',
  },
  'CONFIG.BACKEND': {
    retry: Retry.no,
    meaning: 'A Cloud Run service (poller, loader, batch) was started with a config that says backend: local',
    action: 'Set backend: gcp for the services; run the local backend with `changefeed run --config` instead',
  },

  'CONFIG.UNAUTHENTICATED_PUSH': {
    retry: Retry.no,
    meaning:
      'backend: gcp with loader.delivery: push, but no loader.auth: the loader would take push requests from anyone',
    action:
      'Set loader.auth to the push subscription’s audience and service account, or loader.allowUnauthenticatedPush: true if nothing outside the project can reach the loader',
  },

  'SOURCE.HTTP_STATUS': {
    retry: Retry.depends,
    meaning:
      'The source API answered a status that is not 2xx: 5xx, 408 and 429 after every retry, other statuses at once',
    action: 'Check the API and the source’s auth; a 4xx does not heal by itself',
  },
  'SOURCE.TIMEOUT': {
    retry: Retry.yes,
    meaning: 'No complete answer within request.timeout, after every retry',
    action: 'Nothing, if a later cycle passes; otherwise raise request.timeout or lower the page size',
  },
  'SOURCE.NETWORK': {
    retry: Retry.depends,
    meaning: 'Connection refused or reset, DNS failure, after every retry',
    action: 'Check the URL and that the API is reachable from where the poller runs',
  },
  'SOURCE.BAD_PAYLOAD': {
    retry: Retry.no,
    meaning: 'A page is not JSON, or has no array of records where recordsPath points',
    action: 'Fix recordsPath, or look at what the API sends instead (the message shows the start of it)',
  },
  'SOURCE.MISSING_CREDENTIAL': {
    retry: Retry.no,
    meaning: 'An environment variable that the source’s auth names is not set',
    action: 'Set the variable (on GCP, its Secret Manager secret)',
  },
  'SOURCE.TOKEN_REQUEST': {
    retry: Retry.depends,
    meaning:
      'The OAuth2 token endpoint (auth.tokenUrl) refused the client (invalid_client, invalid_scope...), failed or timed out, or issued no Bearer token; the message gives its error code, never the secret',
    action:
      'A refusal: check the client id and secret variables, scopes and audience with the authorization server. A 5xx or timeout: nothing, if a later cycle passes',
  },
  'SOURCE.TOO_MANY_PAGES': {
    retry: Retry.no,
    meaning: 'More pages than request.maxPages: pagination that never ends, or a source larger than expected',
    action: 'Check the paginator settings; raise request.maxPages if the source really is that large',
  },
  'SOURCE.UNKEYED_RECORDS': {
    retry: Retry.no,
    meaning:
      'A run received records without a string or integer id, with a duplicate id, or not objects, and sources[].onUnkeyedRecords is fail; it published no deletion (a batch run wrote nothing)',
    action:
      'Fix idField or the API (the log line "records skipped" gives the first positions); set onUnkeyedRecords: warn to accept such runs',
  },
  'SOURCE.RECORD_TOO_LARGE': {
    retry: Retry.no,
    meaning:
      'A record is larger than sources[].maxRecordBytes; its change was not published and the snapshot was not advanced for it, so the cycle fails until it shrinks',
    action: 'Raise sources[].maxRecordBytes (up to the documented limit), or exclude the record at the source',
  },
  'PAYLOAD.NOT_FOUND': {
    retry: Retry.yes,
    meaning:
      'An event refers to a payload (claim check) that its store does not hold: not written yet, deleted by the retention rule, or another store',
    action:
      'The bus redelivers it, then dead-letters it with its reference; check the payload store settings (gcp.storage) and the retention rule',
  },
  'PAYLOAD.CORRUPT': {
    retry: Retry.no,
    meaning:
      'The payload an event refers to has another size or SHA-256 than the event says; its message goes to _rejected',
    action: 'Someone changed the stored payload; the entity is re-published with its next change',
  },
  'PAYLOAD.FOREIGN_LOCATION': {
    retry: Retry.no,
    meaning:
      'An event names a payload location that the configured store never gives out (another bucket, a path); its message goes to _rejected unread',
    action: 'A publisher other than the poller, or a forged event; look at _rejected',
  },
  'PAYLOAD.UNAVAILABLE': {
    retry: Retry.yes,
    meaning: 'The payload store (the data directory, or Cloud Storage) could not be read or written',
    action: 'Nothing, if it passes; otherwise check the bucket, its IAM roles and the disk',
  },
  'POLL.TOO_MANY_DELETIONS': {
    retry: Retry.no,
    meaning:
      'One cycle would delete more than sources[].maxDeletedShare of the known entities; its deletions were not published',
    action:
      'If the API really lost them, raise maxDeletedShare (1 turns the guard off); otherwise fix the API or its filter',
  },

  'POLLER.NO_CLIENT': {
    retry: Retry.no,
    meaning: 'A stream source has no source client: a bug in how the poller was composed',
    action: 'Report it',
  },
  'POLLER.STOPPING': {
    retry: Retry.no,
    meaning: 'The poller is stopping (SIGTERM or Ctrl-C); the cycle in flight was cut short after its publish group',
    action: 'Nothing',
  },
  'POLLER.LEASE_BUSY': {
    retry: Retry.no,
    meaning: '`run --once` waited for a source’s lease and another poller still held it',
    action: 'Stop the other changefeed on this data directory, or wait for poller.leaseTtl to run out',
  },

  'SNAPSHOT.LEASE_LOST': {
    retry: Retry.no,
    meaning: 'Another poller took over the source’s lease; this one stopped writing and committed nothing',
    action: 'Nothing, if two pollers overlap on purpose; otherwise raise poller.leaseTtl above the longest cycle',
  },
  'SNAPSHOT.INVALID_TTL': {
    retry: Retry.no,
    meaning: 'A lease TTL that is not a positive number of milliseconds',
    action: 'Fix poller.leaseTtl',
  },
  'SNAPSHOT.CLOSED': {
    retry: Retry.no,
    meaning: 'The snapshot store was used after close(), during shutdown',
    action: 'Nothing during shutdown; at any other time it is a bug',
  },
  'SNAPSHOT.OPEN_FAILED': {
    retry: Retry.depends,
    meaning: 'The local snapshot store (SQLite) could not be opened',
    action: 'Check that the data directory exists and is writable',
  },
  'SNAPSHOT.WRITE_FAILED': {
    retry: Retry.depends,
    meaning: 'A write to the local snapshot store (SQLite) failed; a busy or locked file is retried',
    action: 'Check the disk; a permanent failure names the SQLite error',
  },
  'SNAPSHOT.STORE_UNAVAILABLE': {
    retry: Retry.yes,
    meaning: 'Firestore was unavailable, overloaded or timed out',
    action: 'Nothing, if it passes; otherwise check Firestore’s status and quotas',
  },
  'SNAPSHOT.STORE_FAILED': {
    retry: Retry.no,
    meaning: 'Firestore refused the request (permission, missing database, invalid argument)',
    action: 'Check the service account’s Firestore role and the database name',
  },
  'SNAPSHOT.SCHEMA_TOO_NEW': {
    retry: Retry.no,
    meaning: 'The snapshot was written by a newer changefeed than this one',
    action: 'Upgrade changefeed',
  },
  'SNAPSHOT.CORRUPT': {
    retry: Retry.no,
    meaning: 'The snapshot holds data this changefeed cannot read (edited by hand, or a bug)',
    action: 'Report it with the location the message names; deleting the source’s snapshot makes a full re-emit',
  },
  'SNAPSHOT.ENTRY_TOO_LARGE': {
    retry: Retry.no,
    meaning: 'One entity’s snapshot entry is larger than a Firestore document can hold; nothing was committed',
    action: 'Shorten the entity ids (the id field) of that source',
  },
  'SNAPSHOT.INVALID_ENTRY': {
    retry: Retry.no,
    meaning: 'A snapshot entry that Firestore cannot store (not valid Unicode); nothing was committed',
    action: 'Report it',
  },
  'SNAPSHOT.BUCKET_FULL': {
    retry: Retry.no,
    meaning: 'A Firestore bucket cannot be split further: its entries share every bit of hash it can split on',
    action: 'Report it',
  },
  'SNAPSHOT.INVALID_OPTION': {
    retry: Retry.no,
    meaning:
      'The Firestore snapshot store was given an impossible option (a bad collection path, a bucket size out of range)',
    action: 'Fix the option the message names (gcp.firestore.collection in the config)',
  },

  ...pubSubFamily('PUBLISH', 'Publishing events'),
  'PUBLISH.ORDERING_KEY_PAUSED': {
    retry: Retry.depends,
    meaning: 'Not sent because an earlier message of the same entity failed in the same call; retried when that one is',
    action: 'See the earlier failure (the cause)',
  },
  'PUBLISH.CLOSED': {
    retry: Retry.no,
    meaning: 'publish() after the publisher was closed, during shutdown',
    action: 'Nothing during shutdown; the events stay pending and the next cycle re-emits them',
  },

  ...pubSubFamily('DEAD_LETTER', 'Reading or acknowledging dead letters'),
  'DEAD_LETTER.CLOSED': {
    retry: Retry.no,
    meaning: 'The dead-letter queue was used after close()',
    action: 'Nothing during shutdown; at any other time it is a bug',
  },

  ...pubSubFamily('PUBSUB_SETUP', 'Setting up a topic or subscription'),

  'BUS.UNAVAILABLE': {
    retry: Retry.no,
    meaning: 'The local bus file (bus.sqlite) could not be opened, or does not exist where `dlq` looked',
    action: 'Check --data-dir: it must be the directory the pipeline ran with',
  },
  'BUS.SCHEMA_VERSION': {
    retry: Retry.no,
    meaning: 'bus.sqlite was written by another changefeed version',
    action:
      'Run the version that wrote it until the bus is drained, or remove bus.sqlite (its undelivered messages go with it)',
  },
  'BUS.PUBLISH_FAILED': {
    retry: Retry.yes,
    meaning: 'The local bus could not store messages (disk full, I/O error)',
    action: 'Check the disk; the events stay pending and the next cycle re-emits them',
  },
  'BUS.CLOSED': {
    retry: Retry.no,
    meaning: 'The local bus was used after close(), during shutdown',
    action: 'Nothing',
  },

  'LOADER.CLOSING': {
    retry: Retry.yes,
    meaning: 'A push arrived while the loader was shutting down; it answers 5xx so Pub/Sub delivers it elsewhere',
    action: 'Nothing',
  },

  'PUSH_AUTH.CERTS_UNAVAILABLE': {
    retry: Retry.yes,
    meaning: 'Google’s token signing keys could not be fetched or read; the push is answered 503 and redelivered',
    action: 'Check the loader’s outbound access to www.googleapis.com',
  },
  'PUSH_AUTH.MISSING_TOKEN': {
    retry: Retry.no,
    meaning: 'Refused push (401): no bearer token',
    action: 'Turn on authentication in the push subscription (its push service account)',
  },
  'PUSH_AUTH.MALFORMED_TOKEN': {
    retry: Retry.no,
    meaning: 'Refused push (401): the token is not a well-formed JWT',
    action: 'Check what sends to the push endpoint: Pub/Sub sends well-formed tokens',
  },
  'PUSH_AUTH.UNSUPPORTED_ALG': {
    retry: Retry.no,
    meaning: 'Refused push (401): the token is not signed with RS256',
    action: 'Check what sends to the push endpoint',
  },
  'PUSH_AUTH.UNKNOWN_KEY': {
    retry: Retry.no,
    meaning: 'Refused push (401): the token’s key id is not among Google’s signing keys',
    action: 'Check what sends to the push endpoint; Google keys rotate, so a forged or stale token is likely',
  },
  'PUSH_AUTH.BAD_SIGNATURE': {
    retry: Retry.no,
    meaning: 'Refused push (401): the signature does not verify',
    action: 'Someone other than Pub/Sub is calling the endpoint',
  },
  'PUSH_AUTH.WRONG_AUDIENCE': {
    retry: Retry.no,
    meaning: 'Refused push (401): the token was minted for another audience',
    action: 'Make the subscription’s audience equal loader.auth.audience',
  },
  'PUSH_AUTH.WRONG_ISSUER': {
    retry: Retry.no,
    meaning: 'Refused push (401): the token is not issued by Google',
    action: 'Someone other than Pub/Sub is calling the endpoint',
  },
  'PUSH_AUTH.EXPIRED': {
    retry: Retry.no,
    meaning: 'Refused push (401): the token has expired',
    action: 'Check the loader’s clock',
  },
  'PUSH_AUTH.NOT_YET_VALID': {
    retry: Retry.no,
    meaning: 'Refused push (401): the token is issued in the future',
    action: 'Check the loader’s clock',
  },
  'PUSH_AUTH.TOO_LONG_LIVED': {
    retry: Retry.no,
    meaning: 'Refused push (401): the token expires more than a day after now, which Google tokens never do',
    action: 'Someone other than Pub/Sub is calling the endpoint',
  },
  'PUSH_AUTH.WRONG_EMAIL': {
    retry: Retry.no,
    meaning: 'Refused push (403): a valid token, but not of the push service account',
    action: 'Make the subscription push as loader.auth.serviceAccountEmail, or fix that setting',
  },
  'PUSH_AUTH.EMAIL_NOT_VERIFIED': {
    retry: Retry.no,
    meaning: 'Refused push (403): the token’s email is not verified',
    action: 'Use a service account as the push identity',
  },

  'BIGQUERY_SETUP.FAILED': {
    retry: Retry.depends,
    meaning: 'The BigQuery dataset could not be created or checked',
    action: 'Check the dataset name and location, and the service account’s BigQuery roles',
  },
  'WAREHOUSE.INVALID_ROW': {
    retry: Retry.no,
    meaning:
      'A row that can never be stored (a value of the wrong type, or one BigQuery refused in an AppendRows response); the loader writes its message to _rejected',
    action: 'Look at _rejected: the reason names the row and the column, or BigQuery’s reason',
  },
  'WAREHOUSE.ROW_TOO_LARGE': {
    retry: Retry.no,
    meaning:
      'One row is larger than BigQuery stores (100 MiB, a load job’s row limit; rows over one AppendRows request go by a load job); its message goes to _rejected',
    action: 'The record is too large for BigQuery; shrink it at the source',
  },
  'WAREHOUSE.INVALID_COLUMN': {
    retry: Retry.no,
    meaning: 'A reference record has a key that cannot be a BigQuery column name, or two keys that differ only in case',
    action: 'Rename the keys at the source, or load that table elsewhere',
  },
  'WAREHOUSE.INVALID_KEY': {
    retry: Retry.no,
    meaning: 'A merge key that is not a dot path (such as data.id), or that points into a column that is not JSON',
    action: 'Fix the batch source’s key in the config',
  },
  'WAREHOUSE.SCHEMA_MISMATCH': {
    retry: Retry.no,
    meaning: 'A merge brings values of a type an existing BigQuery column cannot be widened to',
    action: 'Replace the table instead of merging (or drop it once)',
  },
  'WAREHOUSE.WRITE_FAILED': {
    retry: Retry.depends,
    meaning:
      'A write to the warehouse failed; data or statement errors are final, outages, quotas and permissions retried',
    action:
      'Read the message: a permission or a missing dataset is fixed in the environment, and the retries then pass',
  },
  'WAREHOUSE.QUERY_FAILED': {
    retry: Retry.depends,
    meaning: 'A query failed; a statement error is final',
    action: 'Fix the SQL; otherwise as WAREHOUSE.WRITE_FAILED',
  },
  'QUERY.REFUSED': {
    retry: Retry.no,
    meaning:
      'A `changefeed query` statement was refused before it ran: only one statement that reads the warehouse, with no file access, is allowed',
    action: 'Send a single SELECT (or FROM, WITH, VALUES, TABLE, DESCRIBE, SHOW, SUMMARIZE) over warehouse tables',
  },
  'QUERY.CANCELLED': {
    retry: Retry.no,
    meaning:
      'A `changefeed query` statement was interrupted because the caller went away (the CLI exited or disconnected)',
    action: 'Nothing: run it again if you still want the answer',
  },
  'QUERY.TIMEOUT': {
    retry: Retry.no,
    meaning:
      'A `changefeed query` statement ran longer than the query timeout and was interrupted; ingestion was not affected',
    action: 'Narrow the query, or raise the timeout (`changefeed query --timeout <ms>`)',
  },
  'WAREHOUSE.CLOSED': {
    retry: Retry.no,
    meaning: 'The warehouse was used after close(), during shutdown',
    action: 'Nothing during shutdown; at any other time it is a bug',
  },
  'WAREHOUSE.READ_ONLY': {
    retry: Retry.no,
    meaning: 'A write to a DuckDB warehouse opened read-only (as `changefeed query` opens it)',
    action: 'Nothing: queries are read-only by design',
  },
  'WAREHOUSE.LOCKED': {
    retry: Retry.depends,
    meaning:
      'The DuckDB file is held by another process (retried), or already open in this one (a bug); DuckDB allows one process per file',
    action: 'Stop the other changefeed, or query through it (`changefeed query` does while `changefeed run` runs)',
  },
  'WAREHOUSE.NOT_FOUND': {
    retry: Retry.no,
    meaning: 'The DuckDB file does not exist yet: nothing was loaded',
    action: 'Run the pipeline first, or pass the --data-dir it used',
  },
  'WAREHOUSE.OPEN_FAILED': {
    retry: Retry.depends,
    meaning: 'The DuckDB file could not be opened for another reason',
    action: 'Check the path and the disk; the message has DuckDB’s reason',
  },

  'DLQ.ORDERING_KEY_HELD': {
    retry: Retry.no,
    meaning:
      'Not replayed: an earlier dead letter of the same entity failed, and replaying this one would break its order',
    action: 'Fix the earlier failure and run the replay again',
  },
  'DLQ.NO_OUTCOME': {
    retry: Retry.no,
    meaning: 'The dead-letter queue reported nothing for a letter it was asked to replay',
    action: 'Run the replay again; the letter is still a dead letter',
  },
} as const satisfies Record<string, ErrorCodeInfo>;

export type ErrorCode = keyof typeof ERROR_CODES;

export function isErrorCode(code: string): code is ErrorCode {
  return Object.hasOwn(ERROR_CODES, code);
}
