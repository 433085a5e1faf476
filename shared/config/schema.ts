import { z } from 'zod';
import { DEFAULTS } from './defaults';
import { durationMs } from './duration';

/** Names end up in table names, log fields and event attributes: keep them boring. */
const sourceName = z
  .string()
  .regex(/^[a-z][a-z0-9_]{0,62}$/, 'expected lowercase letters, digits and _, starting with a letter (at most 63)');
const tableName = z
  .string()
  .regex(/^[A-Za-z_][A-Za-z0-9_]{0,900}$/, 'expected letters, digits and _, not starting with a digit');
/** A dot path into a JSON value, e.g. `data.items` or `id`. */
const dotPath = z.string().regex(/^[^.\s]+(\.[^.\s]+)*$/, 'expected a dot path such as "id" or "data.id"');
const envName = z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'expected the name of an environment variable');

const scalar = z.union([z.string(), z.number(), z.boolean()]);

/** Headers that carry credentials; their values belong in the environment, named by `auth`. */
const SECRET_HEADERS = new Set(['authorization', 'proxy-authorization', 'x-api-key', 'cookie']);

export const paginationSchema = z.discriminatedUnion('type', [
  z.strictObject({ type: z.literal('none') }),
  z.strictObject({
    type: z.literal('offset'),
    offsetParam: z.string().default('offset'),
    limitParam: z.string().default('limit'),
    limit: z.number().int().positive().default(DEFAULTS.offsetPageSize),
  }),
  z.strictObject({
    type: z.literal('page'),
    pageParam: z.string().default('page'),
    sizeParam: z.string().optional(),
    size: z.number().int().positive().default(DEFAULTS.offsetPageSize),
    firstPage: z.number().int().nonnegative().default(1),
  }),
  z.strictObject({
    type: z.literal('cursor'),
    cursorParam: z.string().default('cursor'),
    /** Where the next page's token sits in the response body; absent, null or "" ends the pages. */
    nextCursorPath: dotPath,
  }),
  /** RFC 8288 `Link: <...>; rel="next"` headers. */
  z.strictObject({ type: z.literal('link') }),
]);
export type Pagination = z.output<typeof paginationSchema>;

export const authSchema = z.discriminatedUnion('type', [
  z.strictObject({ type: z.literal('none') }),
  z.strictObject({ type: z.literal('bearer'), tokenEnv: envName }),
  z.strictObject({
    type: z.literal('apiKey'),
    in: z.enum(['header', 'query']).default('header'),
    name: z.string().min(1),
    valueEnv: envName,
  }),
  z.strictObject({ type: z.literal('basic'), usernameEnv: envName, passwordEnv: envName }),
]);
export type Auth = z.output<typeof authSchema>;

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
    incremental: incrementalSchema.optional(),
  })
  .superRefine((source, ctx) => {
    if (source.incremental !== undefined && source.mode !== 'batch') {
      ctx.addIssue({ code: 'custom', path: ['incremental'], message: 'incremental applies to mode: batch only' });
    }
  });
export type SourceConfig = z.output<typeof sourceSchema>;

export const loaderSchema = z
  .strictObject({
    port: z.number().int().min(0).max(65535).default(DEFAULTS.loaderPort),
    host: z.string().default('127.0.0.1'),
    groupCommitMaxRows: z.number().int().positive().default(DEFAULTS.groupCommitMaxRows),
    groupCommitMaxDelay: durationMs.default(DEFAULTS.groupCommitMaxDelayMs),
    maxBodyBytes: z.number().int().positive().default(DEFAULTS.maxPushBodyBytes),
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
  })
  .prefault({});

export const configSchema = z
  .strictObject({
    backend: z.enum(['local', 'gcp']).default('local'),
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
