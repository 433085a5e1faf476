import { z } from 'zod';
// Each pagination style and auth type is defined next to its factory in shared/source, so adding
// one is one file there; those files import nothing from this one (no import cycle).
import { authSchema } from '../source/auth/registry';
import { dotPathSchema as dotPath } from '../source/dot-path';
import { paginationSchema } from '../source/paginators/registry';
import { DEFAULTS } from './defaults';
import { durationWithDefault } from './duration';
import './meta';

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
  url: z.url({ protocol: /^https?$/, error: 'expected an absolute http(s) URL' }).meta({
    description: 'The absolute http(s) URL of the first page.',
  }),
  method: z.enum(['GET', 'POST']).default('GET').meta({ description: '`POST` sends `body`.' }),
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
    })
    .meta({
      description:
        'Sent with every page. Headers that carry credentials (Authorization, X-API-Key, Cookie) are refused: use `auth`.',
    }),
  query: z.record(z.string(), scalar).default({}).meta({ description: 'Query parameters sent with every page.' }),
  body: z.unknown().optional().meta({ description: 'The JSON body of a `POST` request.' }),
  recordsPath: dotPath.optional().meta({
    description: 'Dot path to the records array in the response body; omit it when the body is the array.',
  }),
  pagination: paginationSchema.default({ type: 'none' }).meta({
    description:
      'How to walk the pages (see `request.pagination` below). Prefer `cursor` or `link` where the API offers them: with `offset` or `page`, a record deleted during a walk shifts another onto a page already read.',
  }),
  timeout: durationWithDefault(DEFAULTS.source.request.timeout).meta({
    description: 'Per request, from connect to the last byte.',
  }),
  maxAttempts: z.number().int().min(1).max(20).default(DEFAULTS.source.request.maxAttempts).meta({
    description: 'Tries per page, the first included; 5xx, 408, 429, timeouts and connection errors are retried.',
  }),
  minBackoff: durationWithDefault(DEFAULTS.source.request.minBackoff).meta({
    description: 'The first wait before a retry; the waits grow exponentially, with full jitter.',
  }),
  maxBackoff: durationWithDefault(DEFAULTS.source.request.maxBackoff).meta({
    description: `The longest wait between tries. A longer \`Retry-After\` from the API wins, up to \`${DEFAULTS.source.request.maxRetryAfter.toString()}\`.`,
  }),
  rateLimit: z.number().positive().optional().meta({
    description: 'Requests per second to this API, across all its pages; absent: unlimited.',
  }),
  maxPages: z
    .number()
    .int()
    .positive()
    .default(DEFAULTS.source.request.maxPages)
    .meta({ description: 'A guard against pagination that never ends: more pages fail the cycle.' }),
});
export type RequestConfig = z.output<typeof requestSchema>;

export const incrementalSchema = z
  .strictObject({
    cursorField: dotPath.meta({
      description: 'The record field whose largest value is the watermark, e.g. `updatedAt`.',
    }),
    cursorParam: z
      .string()
      .min(1)
      .meta({ description: 'The query parameter that sends the stored watermark to the API, e.g. `since`.' }),
  })
  .meta({
    description:
      'Batch only: fetch only what changed since the last run (the largest `cursorField` seen, sent as `cursorParam`) and merge by `idField` instead of replacing the table.',
  });

/** How `<table>_current` is maintained on BigQuery; DuckDB upserts it with every append. */
export const currentSchema = z
  .strictObject({
    mode: z.enum(['cdc', 'merge']).default(DEFAULTS.source.current.mode).meta({
      description:
        "`cdc`: every change is also written to `_current` through the Storage Write API's change data capture (`_CHANGE_TYPE` UPSERT/DELETE, `_CHANGE_SEQUENCE_NUMBER` from version, event time and event id, so an older event never overwrites a newer one) and BigQuery applies it. `merge`: the loader applies the changes with a version-guarded MERGE after appends (for emulators, or where CDC is unavailable).",
    }),
    maxStaleness: durationWithDefault(DEFAULTS.source.current.maxStaleness).meta({
      description:
        "`cdc`: the table's `max_staleness`. A query reads BigQuery's last background apply when it is at most this old, and merges the newer changes at query time otherwise. Longer is cheaper per query and staler; `0` sets none (every query is fresh and pays the merge). The background applies are billed as BigQuery compute in the project.",
    }),
    compactEvery: durationWithDefault(DEFAULTS.source.current.compactEvery).meta({
      description:
        '`merge`: how long after an append the compaction runs, and how often while appends go on. Each run is a MERGE that reads `_current` whole (1 GB of `_current` compacted every minute reads about 1.4 TB a day), so raise it for large tables. `0`: compact inside every append (slow; for tests).',
    }),
  })
  .prefault({})
  .meta({
    description:
      'Stream only, BigQuery only: how `<table>_current` is maintained (DuckDB upserts it in the transaction of the append and has no settings).',
  });
export type CurrentConfig = z.output<typeof currentSchema>;

export const sourceSchema = z
  .strictObject({
    name: sourceName.meta({
      description:
        'Lowercase letters, digits and `_`, starting with a letter (at most 63); used in event attributes, logs and leases.',
    }),
    mode: z
      .enum(['stream', 'batch'])
      .meta({ description: '`stream`: a polled change feed; `batch`: a reference table, loaded whole or by cursor.' }),
    request: requestSchema.meta({ description: 'How to fetch the records (see `request` below).' }),
    auth: authSchema.default({ type: 'none' }).meta({
      description:
        'How to authenticate (see `auth` below); secrets come from environment variables, never from the file.',
    }),
    idField: dotPath.meta({ description: 'Dot path to the entity id in a record, e.g. `id` or `data.id`.' }),
    table: tableName.meta({
      description: 'Warehouse table stem: `<table>_changes` and `<table>_current` for a stream, `<table>` for a batch.',
    }),
    pollInterval: durationWithDefault(DEFAULTS.source.pollInterval).meta({
      description: 'Time between poll cycles (stream) or runs (batch, in local mode).',
    }),
    coldStart: z.enum(['emit', 'baseline']).default('emit').meta({
      description:
        'The first poll of a stream: `emit` a `created` event per entity (a backfill), or `baseline` (remember them, emit nothing).',
    }),
    maxDeletedShare: z
      .number()
      .gt(0)
      .max(1)
      .default(DEFAULTS.source.maxDeletedShare)
      .meta({
        description: `Stream only: a cycle that would delete more than this share of the source's live entities (when it has at least ${DEFAULTS.source.deletionGuardMinEntities}) is refused and emits nothing, because an API answering 200 with an empty list looks exactly like mass deletion; \`1\` turns the guard off.`,
      }),
    onUnkeyedRecords: z.enum(['warn', 'fail']).default('warn').meta({
      description:
        'A run that received records it could not key (no id, an id that is not a string or an integer, a duplicate id, not an object) cannot tell which entities are gone: a stream emits no deletion that cycle, a full batch refresh merges by `idField` instead of replacing the table. `warn`: log the count and first positions and record them in `_runs`; `fail`: also mark the run failed (a batch run then writes nothing).',
    }),
    maxRecordBytes: z
      .number()
      .int()
      .positive()
      .max(DEFAULTS.source.maxRecordBytes, 'expected at most 104857600 (100 MiB, the largest row BigQuery loads)')
      .default(DEFAULTS.source.maxRecordBytes)
      .meta({
        description:
          'Stream only: the largest record (as JSON) this source may publish. A larger one fails the cycle naming the entity, and its change waits in the snapshot until it fits; records above `payloads.inlineMaxBytes` travel by claim check.',
        unit: 'bytes',
      }),
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
export const pushAuthSchema = z
  .strictObject({
    audience: z
      .string()
      .min(1)
      .meta({ description: "The audience the push subscription was configured with (usually the loader's URL)." }),
    serviceAccountEmail: z.email({ error: 'expected a service account email' }).meta({
      description: 'The service account the push subscription signs as; tokens for any other are refused (403).',
    }),
    issuers: z
      .array(z.string().min(1))
      .min(1)
      .default(['accounts.google.com', 'https://accounts.google.com'])
      .meta({ description: 'The token issuers accepted.' }),
  })
  .meta({
    description:
      'Verify the OIDC token of Pub/Sub push requests: 401 for a bad token, 403 for another account. Required on `backend: gcp` with `delivery: push`, unless `allowUnauthenticatedPush` says otherwise. Not used locally, where the local bus proves itself with a secret drawn at each start.',
  });
export type PushAuthConfig = z.output<typeof pushAuthSchema>;

const pullSchema = z
  .strictObject({
    subscription: z.string().min(3).default(DEFAULTS.loader.pull.subscription).meta({
      description: 'The pull subscription on the topic: an id in the project or a full name.',
    }),
    maxOutstandingMessages: z
      .number()
      .int()
      .positive()
      .default(DEFAULTS.loader.pull.maxOutstandingMessages)
      .meta({ description: 'Flow control: messages leased and not yet acked at once, across batches.' }),
    maxOutstandingBytes: z
      .number()
      .int()
      .positive()
      .default(DEFAULTS.loader.pull.maxOutstandingBytes)
      .meta({ description: 'Flow control: bytes leased and not yet acked at once.', unit: 'bytes' }),
    batchMaxMessages: z.number().int().min(1).max(50_000).default(DEFAULTS.loader.pull.batchMaxMessages).meta({
      description:
        'A batch is loaded at this many messages (or `batchMaxDelay` after its first); each message is acked once its batch is durable, nacked (redelivered) otherwise.',
    }),
    batchMaxDelay: durationWithDefault(DEFAULTS.loader.pull.batchMaxDelay).meta({
      description: 'A batch is loaded this long after its first message, if `batchMaxMessages` did not fill it first.',
    }),
    exactlyOnce: z.boolean().default(false).meta({
      description:
        'The subscription has exactly-once delivery (`changefeed gcp setup` creates it so; Terraform: `pull_exactly_once_delivery`). Each ack waits for Pub/Sub to confirm it, and an ack it refuses is counted and logged with the message id (that message is delivered again; its row is a duplicate by event id). Acks take a round trip longer, and the guarantee holds only for subscribers that reach Pub/Sub in one region. https://cloud.google.com/pubsub/docs/exactly-once-delivery',
    }),
  })
  .prefault({})
  .meta({ description: '`delivery: pull`: the StreamingPull subscriber.' });

export const loaderSchema = z
  .strictObject({
    auth: pushAuthSchema.optional(),
    allowUnauthenticatedPush: z.boolean().default(false).meta({
      description:
        'gcp, `delivery: push`: run without `auth`, taking push requests from anyone who can reach the loader. Only for a loader that nothing outside the project can call (ingress internal, or Cloud Run IAM in front); the loader and `changefeed config check` refuse a push config with neither.',
    }),
    port: z
      .number()
      .int()
      .min(0)
      .max(65535)
      .default(DEFAULTS.loader.port)
      .meta({ description: 'Where the loader listens (`0` picks a free port).' }),
    host: z.string().default(DEFAULTS.loader.host).meta({ description: 'The address the loader listens on.' }),
    groupCommitMaxRows: z.number().int().positive().default(DEFAULTS.loader.groupCommitMaxRows).meta({
      description:
        'Push: rows of concurrent requests appended together, at most this many (a group also forms while an append is in flight).',
    }),
    groupCommitMaxDelay: durationWithDefault(DEFAULTS.loader.groupCommitMaxDelay).meta({
      description:
        'Push: how long a group waits for more rows after its first. `0` appends on the next turn of the event loop; a delay only helps open-loop pushes.',
    }),
    maxBodyBytes: z
      .number()
      .int()
      .positive()
      .default(DEFAULTS.loader.maxBodyBytes)
      .meta({ description: 'Larger push bodies are refused.', unit: 'bytes' }),
    delivery: z.enum(['push', 'pull']).default(DEFAULTS.loader.delivery).meta({
      description:
        'gcp: `push`: Pub/Sub pushes each message to `POST /pubsub/push` (one request per message; scales to zero); `pull`: the loader consumes `loader.pull.subscription` with StreamingPull in batches (far fewer, larger appends; needs an instance always running).',
    }),
    pull: pullSchema,
  })
  .prefault({})
  .meta({
    description: 'The loader: a Cloud Run service fed by Pub/Sub push or pull on gcp, fed by the local bus locally.',
  });

export const pollerSchema = z
  .strictObject({
    port: z
      .number()
      .int()
      .min(0)
      .max(65535)
      .default(DEFAULTS.poller.port)
      .meta({ description: "The poller's `/healthz` port on Cloud Run." }),
    leaseTtl: durationWithDefault(DEFAULTS.poller.leaseTtl).meta({
      description: "A poller owns a source for this long without renewing; a crashed poller's source is free after it.",
    }),
    publishBatchSize: z
      .number()
      .int()
      .positive()
      .default(DEFAULTS.poller.publishBatchSize)
      .meta({ description: 'Events per publish group; the snapshot is committed after each acknowledged group.' }),
  })
  .prefault({})
  .meta({
    description: 'The poller: a Cloud Run service on gcp, in the process of `changefeed run` and `start` locally.',
  });

export const busSchema = z
  .strictObject({
    maxDeliveryAttempts: z
      .number()
      .int()
      .min(1)
      .max(100)
      .default(DEFAULTS.bus.maxDeliveryAttempts)
      .meta({ description: 'Deliveries of a message before it is dead-lettered.' }),
    minBackoff: durationWithDefault(DEFAULTS.bus.minBackoff).meta({
      description: "The first redelivery wait, growing exponentially (Pub/Sub's default).",
    }),
    maxBackoff: durationWithDefault(DEFAULTS.bus.maxBackoff).meta({
      description: "The longest redelivery wait (Pub/Sub's default).",
    }),
    concurrency: z
      .number()
      .int()
      .positive()
      .default(DEFAULTS.bus.concurrency)
      .meta({ description: '`push` delivery: push requests in flight.' }),
    ackDeadline: durationWithDefault(DEFAULTS.bus.ackDeadline).meta({
      description: '`push` delivery: a push not answered in time counts as failed.',
    }),
    delivery: z.enum(['batch', 'push']).default(DEFAULTS.bus.delivery).meta({
      description:
        '`batch`: the bus hands the loader (in the same process) batches, appended in one warehouse call each and acked in one transaction after the commit, what a Pub/Sub pull subscriber gets; `push`: one HTTP push envelope per message to `POST /pubsub/push`, what Pub/Sub push does.',
    }),
    batchSize: z.number().int().min(1).max(50_000).default(DEFAULTS.bus.batchSize).meta({
      description: '`batch` delivery: messages per batch (at most one per ordering key; one batch in flight).',
    }),
  })
  .prefault({})
  .meta({
    description:
      'The local bus (`backend: local`); on gcp, the subscription that `gcp setup` creates takes its backoff and attempts.',
  });

const publishSchema = z
  .strictObject({
    // The client cuts larger values down to its limits without a word; refusing them
    // keeps the config saying what actually happens.
    batchMaxMessages: z
      .number()
      .int()
      .min(1)
      .max(1000, 'expected at most 1000: a Publish request carries at most 1000 messages')
      .default(DEFAULTS.gcp.pubsub.publish.batchMaxMessages)
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
      .default(DEFAULTS.gcp.pubsub.publish.batchMaxBytes)
      .meta({
        description:
          'Bytes of messages per Publish request (at most 9 MiB, the client cap under the 10 MB request limit); a larger message still goes, alone.',
        unit: 'bytes',
      }),
    batchMaxDelay: durationWithDefault(DEFAULTS.gcp.pubsub.publish.batchMaxDelay).meta({
      description:
        'How long a Publish request waits for more messages of its ordering key. Longer delays every acknowledgement, and so every poll cycle, since a key rarely has a second message in one cycle.',
    }),
    maxOutstandingMessages: z
      .number()
      .int()
      .positive()
      .default(DEFAULTS.gcp.pubsub.publish.maxOutstandingMessages)
      .meta({
        description:
          'Messages handed to the client and not yet acknowledged: bounds the Publish requests in flight and the memory they hold. The real service has longer round trips than the emulator, where more in flight helps.',
      }),
    maxOutstandingBytes: z.number().int().positive().default(DEFAULTS.gcp.pubsub.publish.maxOutstandingBytes).meta({
      description:
        'The same bound in bytes of data, attributes and ordering key; a larger message still goes once nothing else is outstanding.',
      unit: 'bytes',
    }),
  })
  .prefault({})
  .meta({ description: "The poller's publishing to gcp.pubsub.topic: the client's batching and flow control." });

/** Where the GCP adapters find their resources; used when `backend: gcp`. */
export const gcpSchema = z
  .strictObject({
    projectId: z
      .string()
      .regex(/^[a-z][a-z0-9-]{4,28}[a-z0-9]$/, 'expected a GCP project id')
      .optional()
      .meta({
        description: 'The project every adapter works in; absent: `GOOGLE_CLOUD_PROJECT` from the environment.',
      }),
    pubsub: z
      .strictObject({
        topic: z
          .string()
          .min(3)
          .default(DEFAULTS.gcp.pubsub.topic)
          .meta({ description: 'The topic the poller publishes the change events to.' }),
        deadLetterSubscription: z.string().min(3).default(DEFAULTS.gcp.pubsub.deadLetterSubscription).meta({
          description: 'The pull subscription on the dead-letter topic that `changefeed dlq` reads.',
        }),
        deadLetterPullTimeout: durationWithDefault(DEFAULTS.gcp.pubsub.deadLetterPullTimeout).meta({
          description:
            'How long one pull of the dead-letter subscription waits for messages; every `changefeed dlq` listing ends with one such wait.',
        }),
        publish: publishSchema,
      })
      .prefault({})
      .meta({ description: 'Pub/Sub: where the poller publishes and where `changefeed dlq` finds the dead letters.' }),
    firestore: z
      .strictObject({
        databaseId: z
          .string()
          .min(1)
          .default(DEFAULTS.gcp.firestore.databaseId)
          .meta({ description: 'The Firestore database of the snapshot store.' }),
        collection: z
          .string()
          .min(1)
          .default(DEFAULTS.gcp.firestore.collection)
          .meta({ description: 'The root collection of the bucketed snapshot index, leases and cursors.' }),
      })
      .prefault({})
      .meta({ description: "Firestore: the poller's snapshot store." }),
    bigquery: z
      .strictObject({
        dataset: z
          .string()
          .regex(/^[A-Za-z0-9_]{1,1024}$/, 'expected a BigQuery dataset id')
          .default(DEFAULTS.gcp.bigquery.dataset)
          .meta({
            description:
              'Where `<table>_changes`, `<table>_current`, `_rejected`, `_runs` and the reference tables are created.',
          }),
        location: z
          .string()
          .min(1)
          .default(DEFAULTS.gcp.bigquery.location)
          .meta({ description: 'The location of the dataset.' }),
        apiEndpoint: z.url().optional().meta({
          description:
            'Emulators and private endpoints only: the REST endpoint, e.g. `http://127.0.0.1:9050` (also taken from `BIGQUERY_EMULATOR_HOST`).',
        }),
        storageWriteEndpoint: z
          .string()
          .regex(/^[^:\s]+:\d+$/, 'expected host:port')
          .optional()
          .meta({
            description:
              'Emulators only: the Storage Write gRPC endpoint as host:port, spoken without TLS (also taken from `BIGQUERY_STORAGE_EMULATOR_HOST`).',
          }),
      })
      .prefault({})
      .meta({ description: 'BigQuery: the warehouse.' }),
    storage: z
      .strictObject({
        payloadBucket: z
          .string()
          .regex(/^[a-z0-9][a-z0-9._-]{1,220}[a-z0-9]$/, 'expected a Cloud Storage bucket name')
          .optional()
          .meta({
            description:
              'The bucket for records larger than `payloads.inlineMaxBytes` (the claim check); Terraform creates it. Absent: a cycle with such a record fails naming this setting.',
          }),
        payloadPrefix: z
          .string()
          .regex(/^([A-Za-z0-9._-]+\/)*$/, 'expected object-name segments ending in /, e.g. payloads/')
          .default(DEFAULTS.gcp.storage.payloadPrefix)
          .meta({ description: 'Object names of those payloads start with this.' }),
        apiEndpoint: z.url().optional().meta({
          description:
            'Emulators only: the Cloud Storage endpoint, e.g. `http://127.0.0.1:4443` (also taken from `STORAGE_EMULATOR_HOST`).',
        }),
      })
      .prefault({})
      .meta({ description: 'Cloud Storage: where large records wait for the loader.' }),
  })
  .prefault({})
  .meta({ description: 'Where the GCP adapters find their resources (`backend: gcp`); Terraform fills them in.' });
export type GcpConfig = z.output<typeof gcpSchema>;

export const configSchema = z
  .strictObject({
    backend: z
      .enum(['local', 'gcp'])
      .default('local')
      .meta({ description: '`local` (SQLite, the local bus, DuckDB) or `gcp` (Firestore, Pub/Sub, BigQuery).' }),
    gcp: gcpSchema,
    sources: z
      .array(sourceSchema)
      .min(1, 'expected at least one source')
      .meta({ description: 'The APIs to poll and load (see `sources[]` below).' }),
    poller: pollerSchema,
    loader: loaderSchema,
    bus: busSchema,
    payloads: z
      .strictObject({
        inlineMaxBytes: z
          .number()
          .int()
          .min(1024)
          .max(8 * 1024 * 1024, 'expected at most 8388608 (8 MiB): a message must stay under Pub/Sub’s 10 MB')
          .default(DEFAULTS.payloads.inlineMaxBytes)
          .meta({
            description:
              'An event whose record (as JSON) is larger travels without it: the record goes to the payload store (`<data-dir>/payloads` locally, `gcp.storage.payloadBucket` on gcp), the event carries its location, size and SHA-256, and the loader reads it back and checks it.',
            unit: 'bytes',
          }),
      })
      .prefault({})
      .meta({ description: 'Records too large for the bus (the claim check).' }),
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
  })
  .meta({
    title: 'changefeed configuration',
    description:
      'One YAML file for the poller, the loader, the batch job and the CLI. Secrets come from environment variables named in `auth`, never from the file.',
  });

export type Config = z.output<typeof configSchema>;
export type LoaderConfig = Config['loader'];
export type PollerConfig = Config['poller'];
export type BusConfig = Config['bus'];
