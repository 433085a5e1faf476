import { z } from 'zod';
// Each pagination style and auth type is defined next to its factory in shared/source, so adding
// one is one file there; those files import nothing from this one (no import cycle).
import { authSchema } from '../source/auth/registry';
import { dotPathSchema as dotPath } from '../source/dot-path';
import { paginationSchema } from '../source/paginators/registry';
import { DEFAULTS } from './defaults';
import { durationMs } from './duration';

/** Names end up in table names, log fields and event attributes: keep them boring. */
const sourceName = z
  .string()
  .regex(/^[a-z][a-z0-9_]{0,62}$/, 'expected lowercase letters, digits and _, starting with a letter (at most 63)');
const tableName = z
  .string()
  .regex(/^[A-Za-z_][A-Za-z0-9_]{0,900}$/, 'expected letters, digits and _, not starting with a digit');

const scalar = z.union([z.string(), z.number(), z.boolean()]);

/** Headers that carry credentials; their values belong in the environment, named by `auth`. */
const SECRET_HEADERS = new Set(['authorization', 'proxy-authorization', 'x-api-key', 'cookie']);

export { authSchema, paginationSchema };
export type { Auth } from '../source/auth/registry';
export type { Pagination } from '../source/paginators/registry';

export const requestSchema = z.strictObject({
  url: z.url({ protocol: /^https?$/, error: 'expected an absolute http(s) URL' }),
  method: z.enum(['GET', 'POST']).default('GET'),
  headers: z
    .record(z.string(), z.string())
    .default({})
    .superRefine((headers, ctx) => {
      for (const name of Object.keys(headers)) {
        if (SECRET_HEADERS.has(name.toLowerCase())) {
          ctx.addIssue({
            code: 'custom',
            path: [name],
            message: `header "${name}" carries a credential: use auth with an environment variable instead of writing it in the file`,
          });
        }
      }
    }),
  query: z.record(z.string(), scalar).default({}),
  /** JSON body for POST requests. */
  body: z.unknown().optional(),
  /** Where the records sit in the response body; absent when the body is a top-level array. */
  recordsPath: dotPath.optional(),
  pagination: paginationSchema.default({ type: 'none' }),
  timeout: durationMs.default(DEFAULTS.requestTimeoutMs),
  maxAttempts: z.number().int().min(1).max(20).default(DEFAULTS.requestMaxAttempts),
  minBackoff: durationMs.default(DEFAULTS.requestMinBackoffMs),
  maxBackoff: durationMs.default(DEFAULTS.requestMaxBackoffMs),
  /** Requests per second to this API, across all its pages; absent means unlimited. */
  rateLimit: z.number().positive().optional(),
  maxPages: z.number().int().positive().default(DEFAULTS.maxPages),
});
export type RequestConfig = z.output<typeof requestSchema>;

export const incrementalSchema = z.strictObject({
  /** The record field whose largest value is the watermark, e.g. `updatedAt`. */
  cursorField: dotPath,
  /** The query parameter that sends the stored watermark to the API, e.g. `since`. */
  cursorParam: z.string().min(1),
});

/** How `<table>_current` is maintained on BigQuery; DuckDB upserts it with every append. */
export const currentSchema = z
  .strictObject({
    mode: z.enum(['cdc', 'merge']).default(DEFAULTS.currentMode).meta({
      description:
        'BigQuery: cdc writes each change to _current through the Storage Write API change data capture; merge compacts _changes into it with a MERGE after appends (no emulator implements CDC).',
    }),
    maxStaleness: durationMs.default(DEFAULTS.currentMaxStalenessMs).meta({
      description:
        'BigQuery cdc: the max_staleness of _current. Queries read the last background apply when it is at most this old, and merge newer changes at query time otherwise: longer is cheaper and staler.',
    }),
    compactEvery: durationMs.default(DEFAULTS.currentCompactEveryMs).meta({
      description:
        'BigQuery merge: how long after an append _current is compacted, and how often while appends go on; each run reads _current whole. 0: within every append.',
    }),
  })
  .prefault({})
  .meta({ description: 'Stream only: how <table>_current is kept on BigQuery.' });
export type CurrentConfig = z.output<typeof currentSchema>;

export const sourceSchema = z
  .strictObject({
    name: sourceName,
    mode: z.enum(['stream', 'batch']),
    request: requestSchema,
    auth: authSchema.default({ type: 'none' }),
    idField: dotPath,
    table: tableName,
    pollInterval: durationMs.default(DEFAULTS.pollIntervalMs),
    coldStart: z.enum(['emit', 'baseline']).default('emit'),
    /** Stream only: the largest share of live entities one cycle may delete; 1 turns the guard off. */
    maxDeletedShare: z.number().gt(0).max(1).default(DEFAULTS.maxDeletedShare),
    incremental: incrementalSchema.optional(),
    current: currentSchema,
  })
  .superRefine((source, ctx) => {
    if (source.incremental !== undefined && source.mode !== 'batch') {
      ctx.addIssue({ code: 'custom', path: ['incremental'], message: 'incremental applies to mode: batch only' });
    }
  });
export type SourceConfig = z.output<typeof sourceSchema>;

/**
 * Verification of the OIDC token Pub/Sub attaches to push requests.
 * https://cloud.google.com/pubsub/docs/authenticate-push-subscriptions
 */
export const pushAuthSchema = z.strictObject({
  /** The audience the push subscription was configured with (usually the loader's URL). */
  audience: z.string().min(1),
  /** The service account the push subscription signs as; tokens for any other are refused. */
  serviceAccountEmail: z.email({ error: 'expected a service account email' }),
  issuers: z.array(z.string().min(1)).min(1).default(['accounts.google.com', 'https://accounts.google.com']),
});
export type PushAuthConfig = z.output<typeof pushAuthSchema>;

export const loaderSchema = z
  .strictObject({
    /** Absent: no token is checked (local mode, or a loader reachable only from inside the project). */
    auth: pushAuthSchema.optional(),
    port: z.number().int().min(0).max(65535).default(DEFAULTS.loaderPort),
    host: z.string().default('127.0.0.1'),
    groupCommitMaxRows: z.number().int().positive().default(DEFAULTS.groupCommitMaxRows),
    groupCommitMaxDelay: durationMs.default(DEFAULTS.groupCommitMaxDelayMs),
    maxBodyBytes: z.number().int().positive().default(DEFAULTS.maxPushBodyBytes),
    /** gcp: `push` (Pub/Sub push to POST /pubsub/push) or `pull` (StreamingPull, batched). */
    delivery: z.enum(['push', 'pull']).default('push'),
    pull: z
      .strictObject({
        subscription: z.string().min(3).default(DEFAULTS.pubsubLoaderSubscription),
        maxOutstandingMessages: z.number().int().positive().default(DEFAULTS.pullMaxOutstandingMessages),
        maxOutstandingBytes: z.number().int().positive().default(DEFAULTS.pullMaxOutstandingBytes),
        batchMaxMessages: z.number().int().min(1).max(50_000).default(DEFAULTS.pullBatchMaxMessages),
        batchMaxDelay: durationMs.default(DEFAULTS.pullBatchMaxDelayMs),
        exactlyOnce: z.boolean().default(false).meta({
          description:
            'pull: the subscription has exactly-once delivery (`changefeed gcp setup` creates it so; Terraform: pull_exactly_once_delivery). Each ack waits for Pub/Sub to confirm it, and an ack it refuses is counted and logged with the message id (that message is delivered again; its row is a duplicate by event id). Acks take a round trip longer, and the guarantee holds only for subscribers that reach Pub/Sub in one region. https://cloud.google.com/pubsub/docs/exactly-once-delivery',
        }),
      })
      .prefault({}),
  })
  .prefault({});

export const pollerSchema = z
  .strictObject({
    port: z.number().int().min(0).max(65535).default(DEFAULTS.pollerPort),
    leaseTtl: durationMs.default(DEFAULTS.leaseTtlMs),
    publishBatchSize: z.number().int().positive().default(DEFAULTS.publishBatchSize),
  })
  .prefault({});

export const busSchema = z
  .strictObject({
    maxDeliveryAttempts: z.number().int().min(1).max(100).default(DEFAULTS.busMaxDeliveryAttempts),
    minBackoff: durationMs.default(DEFAULTS.busMinBackoffMs),
    maxBackoff: durationMs.default(DEFAULTS.busMaxBackoffMs),
    concurrency: z.number().int().positive().default(DEFAULTS.busConcurrency),
    ackDeadline: durationMs.default(DEFAULTS.busAckDeadlineMs),
    delivery: z.enum(['batch', 'push']).default(DEFAULTS.busDelivery),
    batchSize: z.number().int().min(1).max(50_000).default(DEFAULTS.busBatchSize),
  })
  .prefault({});

/** Where the GCP adapters find their resources; used when `backend: gcp`. */
export const gcpSchema = z
  .strictObject({
    /** Absent: taken from the environment (GOOGLE_CLOUD_PROJECT) by the service's main. */
    projectId: z
      .string()
      .regex(/^[a-z][a-z0-9-]{4,28}[a-z0-9]$/, 'expected a GCP project id')
      .optional(),
    pubsub: z
      .strictObject({
        topic: z.string().min(3).default(DEFAULTS.pubsubTopic),
        /** The pull subscription on the dead-letter topic that `changefeed dlq` reads. */
        deadLetterSubscription: z.string().min(3).default(DEFAULTS.pubsubDeadLetterSubscription),
        /** How long one pull of the dead-letter subscription waits for messages. */
        deadLetterPullTimeout: durationMs.default(DEFAULTS.deadLetterPullTimeoutMs),
        publish: z
          .strictObject({
            // The client cuts larger values down to its limits without a word; refusing them
            // keeps the config saying what actually happens.
            batchMaxMessages: z
              .number()
              .int()
              .min(1)
              .max(1000, 'expected at most 1000: a Publish request carries at most 1000 messages')
              .default(DEFAULTS.pubsubBatchMaxMessages)
              .meta({
                description:
                  "Messages per Publish request (at most 1000, the API's limit). The client batches per ordering key and the poller's keys are per entity, so a cycle's messages mostly travel one per request whatever this is.",
              }),
            batchMaxBytes: z
              .number()
              .int()
              .min(1)
              .max(
                9 * 1024 * 1024,
                'expected at most 9437184 (9 MiB): the client keeps a Publish request under the 10 MB limit with this cap',
              )
              .default(DEFAULTS.pubsubBatchMaxBytes)
              .meta({
                description:
                  'Bytes of messages per Publish request (at most 9 MiB, the client cap under the 10 MB request limit); a larger message still goes, alone.',
              }),
            batchMaxDelay: durationMs.default(DEFAULTS.pubsubBatchMaxDelayMs).meta({
              description:
                'How long a Publish request waits for more messages of its ordering key. Longer delays every acknowledgement, and so every poll cycle, since a key rarely has a second message in one cycle.',
            }),
            maxOutstandingMessages: z.number().int().positive().default(DEFAULTS.pubsubMaxOutstandingMessages).meta({
              description:
                'Messages handed to the client and not yet acknowledged: bounds the Publish requests in flight and the memory they hold. The real service has longer round trips than the emulator, where more in flight helps.',
            }),
            maxOutstandingBytes: z.number().int().positive().default(DEFAULTS.pubsubMaxOutstandingBytes).meta({
              description:
                'The same bound in bytes of data, attributes and ordering key; a larger message still goes once nothing else is outstanding.',
            }),
          })
          .prefault({})
          .meta({
            description: "The poller's publishing to gcp.pubsub.topic: the client's batching and flow control.",
          }),
      })
      .prefault({}),
    firestore: z
      .strictObject({
        databaseId: z.string().min(1).default('(default)'),
        /** Root collection of the snapshot index, leases and cursors. */
        collection: z.string().min(1).default(DEFAULTS.firestoreCollection),
      })
      .prefault({}),
    bigquery: z
      .strictObject({
        dataset: z
          .string()
          .regex(/^[A-Za-z0-9_]{1,1024}$/, 'expected a BigQuery dataset id')
          .default(DEFAULTS.bigqueryDataset),
        location: z.string().min(1).default('US'),
        /** Emulators and private endpoints only: the REST endpoint, e.g. http://127.0.0.1:9050. */
        apiEndpoint: z.url().optional(),
        /** Emulators only: the Storage Write gRPC endpoint as host:port, spoken without TLS. */
        storageWriteEndpoint: z
          .string()
          .regex(/^[^:\s]+:\d+$/, 'expected host:port')
          .optional(),
      })
      .prefault({}),
  })
  .prefault({});
export type GcpConfig = z.output<typeof gcpSchema>;

export const configSchema = z
  .strictObject({
    backend: z.enum(['local', 'gcp']).default('local'),
    gcp: gcpSchema,
    sources: z.array(sourceSchema).min(1, 'expected at least one source'),
    poller: pollerSchema,
    loader: loaderSchema,
    bus: busSchema,
  })
  .superRefine((config, ctx) => {
    const seenNames = new Map<string, number>();
    const seenTables = new Map<string, number>();
    config.sources.forEach((source, i) => {
      const sameName = seenNames.get(source.name);
      if (sameName !== undefined) {
        ctx.addIssue({
          code: 'custom',
          path: ['sources', i, 'name'],
          message: `duplicate source name "${source.name}" (also sources[${sameName}])`,
        });
      }
      seenNames.set(source.name, i);
      const sameTable = seenTables.get(source.table);
      if (sameTable !== undefined) {
        ctx.addIssue({
          code: 'custom',
          path: ['sources', i, 'table'],
          message: `table "${source.table}" is already written by sources[${sameTable}]`,
        });
      }
      seenTables.set(source.table, i);
    });
  });

export type Config = z.output<typeof configSchema>;
export type LoaderConfig = Config['loader'];
export type PollerConfig = Config['poller'];
export type BusConfig = Config['bus'];
