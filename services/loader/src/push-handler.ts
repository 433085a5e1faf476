import { DEFAULTS } from '@changefeed/shared/config';
import { ValidationError, errorMessage, isRetryable } from '@changefeed/shared/errors';
import { decodeChangeMessage, parsePushEnvelope } from '@changefeed/shared/events';
import type { Logger } from '@changefeed/shared/log';
import type { ChangeRow, Clock, RejectedRow } from '@changefeed/shared/ports';
import type { GroupCommitter } from './group-committer';
import { isRowError } from './isolating-append';
import { toChangeRow } from './row-mapping';
import { truncateUtf8 } from './truncate-utf8';

/**
 * How much of a poison body `_rejected` keeps. Enough to see what was sent and replay a typical
 * message by hand, while a 10 MB garbage body cannot bloat the rejects table.
 */
export const REJECTED_PAYLOAD_MAX_BYTES = DEFAULTS.rejectedPayloadMaxBytes;

/** A push request as the HTTP layer read it. */
export interface PushRequest {
  /** The body exactly as received (empty when there was none or it could not be read). */
  readonly body: Buffer;
  /** The `content-type` header, when the request had one. */
  readonly contentType: string | undefined;
  /**
   * Set when the HTTP layer could not read the body for a reason that no retry changes (larger
   * than `maxBodyBytes`, an unsupported content encoding): the message is rejected with this reason.
   */
  readonly unreadable?: string;
}

export const PushOutcomeKind = {
  /** The row is durably in `<table>_changes`: ack. */
  written: 'written',
  /** The message can never be valid; it is durably in `_rejected` with the reason: ack. */
  rejected: 'rejected',
  /** Nothing was stored; answer 5xx so that the bus redelivers. */
  failed: 'failed',
} as const;
export type PushOutcomeKind = (typeof PushOutcomeKind)[keyof typeof PushOutcomeKind];

/** What to answer: 204 acks the message, 5xx makes Pub/Sub redeliver (and finally dead-letter) it. */
export type PushOutcome =
  | { readonly kind: 'written'; readonly status: 204; readonly messageId: string; readonly eventId: string }
  | { readonly kind: 'rejected'; readonly status: 204; readonly reason: string }
  | {
      readonly kind: 'failed';
      /** 503 when a retry may help (or nobody knows), 500 when the sink called it permanent. */
      readonly status: 500 | 503;
      readonly error: unknown;
    };

export interface PushHandlerDeps {
  readonly committer: Pick<GroupCommitter, 'submit' | 'submitRejected'>;
  readonly clock: Clock;
  readonly logger: Logger;
  /** How much of a rejected body to keep; REJECTED_PAYLOAD_MAX_BYTES by default. */
  readonly rejectedPayloadMaxBytes?: number;
}

/** Handles one push request; never throws, every failure becomes an outcome. */
export type PushHandler = (request: PushRequest) => Promise<PushOutcome>;

/**
 * The loader's use case: push body → envelope → CloudEvent → row → group commit.
 *
 * A body that can never become a valid change (not JSON, a bad envelope, a bad CloudEvent) is
 * written to `_rejected` with the reason and acked: answering 4xx would only make Pub/Sub retry it
 * until it is dead-lettered (https://cloud.google.com/pubsub/docs/push#receive_push). Only when
 * nothing could be stored does the request fail, so that no message is ever acked unrecorded.
 */
export function createPushHandler(deps: PushHandlerDeps): PushHandler {
  const log = deps.logger.child({ module: 'push-handler' });
  const maxPayloadBytes = deps.rejectedPayloadMaxBytes ?? REJECTED_PAYLOAD_MAX_BYTES;

  async function reject(request: PushRequest, receivedAt: Date, reason: string): Promise<PushOutcome> {
    const ids = readIds(request.body);
    const payload = truncateUtf8(request.body, maxPayloadBytes);
    const kept = Buffer.byteLength(payload);
    const row: RejectedRow = {
      message_id: ids.messageId,
      subscription: ids.subscription,
      reason:
        kept < request.body.length ? `${reason} [payload: first ${kept} of ${request.body.length} bytes]` : reason,
      payload,
      received_at: receivedAt,
    };
    try {
      await deps.committer.submitRejected(row);
    } catch (e: unknown) {
      return fail(e, { messageId: ids.messageId, stage: 'reject', reason });
    }
    log.warn('push message rejected', { messageId: ids.messageId, subscription: ids.subscription, reason: row.reason });
    return { kind: 'rejected', status: 204, reason: row.reason };
  }

  function fail(error: unknown, fields: Record<string, unknown>): PushOutcome {
    const status = isRetryable(error) ? 503 : 500;
    log.error('push message not stored; the bus will redeliver it', { ...fields, status, error: errorFields(error) });
    return { kind: 'failed', status, error };
  }

  return async (request) => {
    const receivedAt = deps.clock.now();
    if (request.unreadable !== undefined) return reject(request, receivedAt, request.unreadable);
    if (!isJsonMediaType(request.contentType)) {
      return reject(request, receivedAt, `content-type ${request.contentType ?? ''} is not application/json`);
    }
    let decoded: Decoded;
    try {
      decoded = decode(request.body, deps.clock);
    } catch (e: unknown) {
      if (e instanceof ValidationError) return reject(request, receivedAt, e.message);
      return fail(e, { stage: 'decode' });
    }
    const { table, row } = decoded;
    const ids = {
      messageId: row.message_id,
      eventId: row.event_id,
      table,
      entityId: row.entity_id,
      version: row.version,
      deliveryAttempt: row.delivery_attempt,
    };
    try {
      await deps.committer.submit(table, row);
    } catch (e: unknown) {
      // A row the warehouse will never store is kept in _rejected like any other poison message.
      if (isRowError(e)) return reject(request, receivedAt, e.message);
      return fail(e, ids);
    }
    log.debug('push message written', ids);
    return { kind: 'written', status: 204, messageId: row.message_id, eventId: row.event_id };
  };
}

interface Decoded {
  /** The table stem from the event's `cftable` extension: the row goes to `<table>_changes`. */
  readonly table: string;
  readonly row: ChangeRow;
}

/** Throws ValidationError for anything that can never become a valid change. */
function decode(body: Buffer, clock: Clock): Decoded {
  const message = parsePushEnvelope(parseJson(body));
  const change = decodeChangeMessage(message.data, message.attributes);
  return { table: change.table, row: toChangeRow(change, message, clock.now()) };
}

/** `application/json` or a `+json` type; a missing header is given the benefit of the doubt. */
function isJsonMediaType(contentType: string | undefined): boolean {
  if (contentType === undefined || contentType.trim() === '') return true;
  const type = contentType.split(';')[0]?.trim().toLowerCase() ?? '';
  return type === 'application/json' || (type.startsWith('application/') && type.endsWith('+json'));
}

function parseJson(body: Buffer): unknown {
  if (body.length === 0) throw new ValidationError('body is empty', [{ path: 'body', message: 'expected JSON' }]);
  try {
    return JSON.parse(body.toString('utf8')) as unknown;
  } catch {
    // Not the parser's message: it quotes the body, and reasons are logged.
    throw new ValidationError('body is not JSON', [{ path: 'body', message: 'expected JSON' }]);
  }
}

/** The message id and subscription of a body that failed validation, when they can still be read. */
function readIds(body: Buffer): { messageId: string | null; subscription: string | null } {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body.toString('utf8'));
  } catch {
    return { messageId: null, subscription: null };
  }
  const root = isObject(parsed) ? parsed : {};
  const message = isObject(root['message']) ? root['message'] : {};
  return {
    messageId: nonEmptyString(message['messageId']) ?? nonEmptyString(message['message_id']),
    subscription: nonEmptyString(root['subscription']),
  };
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function nonEmptyString(v: unknown): string | null {
  return typeof v === 'string' && v !== '' ? v : null;
}

function errorFields(e: unknown): Record<string, unknown> {
  const code = typeof e === 'object' && e !== null && 'code' in e ? e.code : undefined;
  return { message: errorMessage(e), code, retryable: isRetryable(e) };
}
