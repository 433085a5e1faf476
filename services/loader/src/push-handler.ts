import { ValidationError, errorMessage, isRetryable } from '@changefeed/shared/errors';
import { parsePushEnvelope } from '@changefeed/shared/events';
import type { Logger } from '@changefeed/shared/log';
import type { LoaderMessage, UnreadableMessage } from './batch-loader';
import type { MessageBatcher } from './message-batcher';

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
  readonly batcher: Pick<MessageBatcher, 'submit'>;
  readonly logger: Logger;
}

/** Handles one push request; never throws, every failure becomes an outcome. */
export type PushHandler = (request: PushRequest) => Promise<PushOutcome>;

/**
 * The loader's push use case: body → envelope → a batch of one for the batch loader, grouped with
 * concurrent requests by the batcher.
 *
 * A body that can never become a valid change (not JSON, a bad envelope, a bad CloudEvent, a row
 * the warehouse refuses) is written to `_rejected` with the reason and acked: answering 4xx would
 * only make Pub/Sub retry it until it is dead-lettered
 * (https://cloud.google.com/pubsub/docs/push#receive_push). Only when nothing could be stored does
 * the request fail, so that no message is ever acked unrecorded.
 */
export function createPushHandler(deps: PushHandlerDeps): PushHandler {
  const log = deps.logger.child({ component: 'push-handler' });

  function fail(error: unknown, retryable: boolean, fields: Record<string, unknown>): PushOutcome {
    const status = retryable ? 503 : 500;
    log.error('push message not stored; the bus will redeliver it', { ...fields, status, error: errorFields(error) });
    return { kind: 'failed', status, error };
  }

  return async (request) => {
    let message: LoaderMessage;
    try {
      message = toLoaderMessage(request);
    } catch (e: unknown) {
      return fail(e, isRetryable(e), { stage: 'decode' });
    }
    const ids = {
      messageId: message.messageId,
      subscription: message.subscription,
      ...('unreadable' in message ? {} : { deliveryAttempt: message.deliveryAttempt }),
    };
    const outcome = await deps.batcher.submit(message);
    switch (outcome.kind) {
      case 'written':
        log.debug('push message written', { ...ids, eventId: outcome.eventId });
        return { kind: 'written', status: 204, messageId: outcome.messageId, eventId: outcome.eventId };
      case 'rejected':
        log.warn('push message rejected', { ...ids, reason: outcome.reason });
        return { kind: 'rejected', status: 204, reason: outcome.reason };
      case 'failed':
        return fail(outcome.error, outcome.retryable, ids);
    }
  };
}

/** The request as the batch loader takes it; throws only for what is not the request's fault. */
function toLoaderMessage(request: PushRequest): LoaderMessage {
  const unreadable = (reason: string): UnreadableMessage => ({
    unreadable: reason,
    ...readIds(request.body),
    payload: request.body,
  });
  if (request.unreadable !== undefined) return unreadable(request.unreadable);
  if (!isJsonMediaType(request.contentType)) {
    return unreadable(`content-type ${request.contentType ?? ''} is not application/json`);
  }
  try {
    return { ...parsePushEnvelope(parseJson(request.body)), rejectedPayload: request.body };
  } catch (e: unknown) {
    if (e instanceof ValidationError) return unreadable(e.message);
    throw e;
  }
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
