import type { LoaderConfig } from '@changefeed/shared/config';
import { errorMessage } from '@changefeed/shared/errors';
import type { Logger } from '@changefeed/shared/log';
import type { Clock, PayloadStore, RowSink } from '@changefeed/shared/ports';
import type { PushAuthenticator, PushAuthResult } from '@changefeed/shared/ports';
import express, { type ErrorRequestHandler, type Express, type RequestHandler, type Response } from 'express';
import { createBatchLoader, type BatchLoaderDeps } from './batch-loader';
import { MessageBatcher } from './message-batcher';
import { createPushHandler, type PushOutcome, type PushRequest } from './push-handler';
import type { TableAllowlist } from './table-allowlist';

/** The loader's names for the shared push-authentication port. */
export type AuthResult = PushAuthResult;
export type Authenticate = PushAuthenticator;

export interface LoaderDeps {
  /** Owned by the caller: `close()` flushes into it but does not close it. */
  readonly rowSink: RowSink;
  readonly logger: Logger;
  readonly clock: Clock;
  readonly config: LoaderConfig;
  /**
   * Checks each push request's credentials: Pub/Sub's OIDC token on gcp, the local bus's per-start
   * secret locally. Absent: every request is accepted (`loader.allowUnauthenticatedPush`).
   */
  readonly authenticate?: Authenticate;
  /** The tables events may write to (`tableAllowlist(config.sources)`); absent: any. */
  readonly tables?: TableAllowlist;
  /** Where claim-checked records are fetched from (`BackendPorts.payloads`), and the setting that names it. */
  readonly payloads?: { readonly store: PayloadStore | undefined; readonly setting: string };
  /**
   * False: no `POST /pubsub/push` at all (404), for a loader that pulls. Its messages come from the
   * subscription, and an endpoint nobody should call is one fewer way to write to the warehouse.
   */
  readonly acceptPush?: boolean;
}

/** Push requests since start. Each received request ends as exactly one of written, rejected, failed. */
export interface LoaderStats {
  /** Requests that passed authentication. */
  readonly received: number;
  /** Rows appended to `<table>_changes` (acked). */
  readonly written: number;
  /** Messages recorded in `_rejected` (acked). */
  readonly rejected: number;
  /** Requests answered 5xx: nothing was stored and the bus redelivers. */
  readonly failed: number;
}

export interface LoaderApp {
  readonly app: Express;
  /** Groups the messages of concurrent push requests into shared loads (group commit). */
  readonly batcher: MessageBatcher;
  /** Stops taking messages (push requests then get 503, `/healthz` says draining) and flushes what is in flight. */
  close(): Promise<void>;
  stats(): LoaderStats;
}

/** The 5xx body: nothing about the message, which may hold data that must not leak into proxies' logs. */
const NOT_STORED = { error: 'message not stored; retry later' } as const;

/**
 * The loader's HTTP face: `POST /pubsub/push` receives Pub/Sub push requests
 * (https://cloud.google.com/pubsub/docs/push#receive_push) and `GET /healthz` reports whether it
 * takes work. Builds nothing but the app: the caller listens, and owns the sink.
 */
export function buildLoaderApp(deps: LoaderDeps): LoaderApp {
  const { config, clock } = deps;
  const log = deps.logger.child({ component: 'loader-app' });
  const load = createBatchLoader({
    sink: deps.rowSink,
    clock,
    logger: deps.logger,
    ...(deps.tables === undefined ? {} : { tables: deps.tables }),
    ...payloadDeps(deps.payloads),
  });
  const batcher = new MessageBatcher(load, {
    maxMessages: config.groupCommitMaxRows,
    maxDelayMs: config.groupCommitMaxDelay.totalOf('millisecond'),
    clock,
  });
  const handle = createPushHandler({ batcher, logger: deps.logger });
  const counts = { received: 0, written: 0, rejected: 0, failed: 0 };
  let closing: Promise<void> | undefined;

  const respond = (res: Response, outcome: PushOutcome): void => {
    counts[outcome.kind]++;
    if (outcome.kind === 'failed') res.status(outcome.status).json(NOT_STORED);
    else res.status(outcome.status).end();
  };

  // Before authentication and before the body is read: a browser page (any site the user visits)
  // can POST here, even with no CORS preflight (a no-cors form or fetch), and is refused outright.
  const refuseBrowsers: RequestHandler = (req, res, next) => {
    const header = browserHeader(req.get('origin'), req.get('sec-fetch-site'));
    if (header === undefined) {
      next();
      return;
    }
    // The header's name, not its value: that is the sender's to choose.
    log.warn('push request from a browser refused', { status: 403, header });
    // The body stays unread: closing the connection keeps it from being parsed as a next request.
    res.set('Connection', 'close').status(403).end();
  };

  const authenticate: RequestHandler = async (req, res, next) => {
    if (deps.authenticate === undefined) {
      next();
      return;
    }
    let result: AuthResult;
    try {
      result = await deps.authenticate({ authorization: req.get('authorization') });
    } catch (e: unknown) {
      log.error('push request could not be authenticated', { error: errorMessage(e) });
      res.status(503).end();
      return;
    }
    if (result.ok) {
      next();
      return;
    }
    log.warn('push request refused', { status: result.status });
    // RFC 6750 §3: a 401 names the scheme it expects.
    if (result.status === 401) res.set('WWW-Authenticate', 'Bearer');
    res.status(result.status).end();
  };

  const countReceived: RequestHandler = (_req, _res, next) => {
    counts.received++;
    next();
  };

  // The body is read as bytes whatever its content type, rather than by express.json: a poison body
  // must be kept as it was sent, and JSON errors are then the use case's to judge, not express's.
  const readBody = express.raw({ type: () => true, limit: config.maxBodyBytes });

  const push: RequestHandler = async (req, res) => {
    const body: unknown = req.body;
    respond(
      res,
      await handle({
        body: Buffer.isBuffer(body) ? body : Buffer.alloc(0),
        contentType: req.get('content-type'),
      }),
    );
  };

  /** Body-reading errors: permanent ones become reject rows (acked), broken transfers a retry. */
  const pushError: ErrorRequestHandler = async (err: unknown, req, res, next) => {
    if (res.headersSent) {
      next(err);
      return;
    }
    const unreadable = unreadableReason(err, config.maxBodyBytes, req.get('content-encoding'));
    if (unreadable !== undefined) {
      const request: PushRequest = { body: Buffer.alloc(0), contentType: req.get('content-type'), unreadable };
      respond(res, await handle(request));
      return;
    }
    counts.failed++;
    log.error('push request body could not be read; the bus will redeliver it', { error: errorMessage(err) });
    res.status(503).json(NOT_STORED);
  };

  const app = express();
  app.disable('x-powered-by');
  app.get('/healthz', (_req, res) => {
    if (closing === undefined) res.json({ status: 'ok' });
    else res.status(503).json({ status: 'draining' });
  });
  if (deps.acceptPush !== false)
    app.post('/pubsub/push', refuseBrowsers, authenticate, countReceived, readBody, push, pushError);
  app.use((_req, res) => {
    res.status(404).json({ error: 'not found' });
  });
  // Express's default would answer an HTML page with the stack trace.
  const lastResort: ErrorRequestHandler = (err: unknown, _req, res, next) => {
    log.error('request failed', { error: errorMessage(err) });
    if (res.headersSent) {
      next(err);
      return;
    }
    res.status(500).json({ error: 'internal error' });
  };
  app.use(lastResort);

  return {
    app,
    batcher,
    close: () => {
      closing ??= batcher.close();
      return closing;
    },
    stats: () => ({ ...counts }),
  };
}

/**
 * What marks a request as sent by a browser, or undefined for a server's. Browsers send `Origin`
 * on every POST (Fetch standard, "append a request `Origin` header") and `Sec-Fetch-Site` on every
 * request (W3C Fetch Metadata); Pub/Sub push and the local bus send neither, and no page is served
 * here that could make a request same-origin. So any of them refuses: `Sec-Fetch-Site: none`
 * (typed into the address bar) is no push either.
 */
function browserHeader(
  origin: string | undefined,
  fetchSite: string | undefined,
): 'origin' | 'sec-fetch-site' | undefined {
  if (origin !== undefined) return 'origin';
  if (fetchSite !== undefined) return 'sec-fetch-site';
  return undefined;
}

/** Why a body could not be read, when retrying cannot help; undefined for a broken transfer. */
function unreadableReason(err: unknown, maxBodyBytes: number, contentEncoding: string | undefined): string | undefined {
  const e =
    typeof err === 'object' && err !== null
      ? (err as { type?: unknown; length?: unknown; encoding?: unknown; code?: unknown })
      : {};
  switch (e.type) {
    case 'entity.too.large': {
      const size = typeof e.length === 'number' ? `${e.length} bytes` : 'the body';
      return `body too large: ${size} is more than loader.maxBodyBytes (${maxBodyBytes})`;
    }
    case 'encoding.unsupported':
      return `body not readable: content-encoding ${String(e.encoding)} is not supported`;
    default:
      // zlib's codes: the compressed bytes are corrupt, and a redelivery carries the same bytes.
      if (typeof e.code === 'string' && e.code.startsWith('Z_')) {
        return `body not readable: the ${contentEncoding ?? 'compressed'} data is corrupt (${e.code})`;
      }
      return undefined;
  }
}

/** `BatchLoaderDeps` of the claim check, from what the backend gave. */
export function payloadDeps(
  payloads: LoaderDeps['payloads'],
): Pick<BatchLoaderDeps, 'payloads' | 'payloadStoreSetting'> {
  if (payloads === undefined) return {};
  return {
    ...(payloads.store === undefined ? {} : { payloads: payloads.store }),
    payloadStoreSetting: payloads.setting,
  };
}
