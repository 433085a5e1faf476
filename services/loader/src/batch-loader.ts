import { DEFAULTS } from '@changefeed/shared/config';
import { ValidationError, errorMessage, isRetryable } from '@changefeed/shared/errors';
import { decodeChangeMessage, type PushedMessage } from '@changefeed/shared/events';
import type { Logger } from '@changefeed/shared/log';
import { PayloadAttribute } from '@changefeed/shared/payloads';
import type { ChangeRow, Clock, PayloadStore, RejectedRow, RowSink } from '@changefeed/shared/ports';
import { appendIsolating } from './isolating-append';
import { resolvePayloads } from './resolve-payloads';
import { toChangeRow } from './row-mapping';
import type { TableAllowlist } from './table-allowlist';
import { truncateUtf8 } from './truncate-utf8';

/** What became of one message of a batch; `written` and `rejected` ack it, `failed` does not. */
export type MessageOutcome =
  | { readonly kind: 'written'; readonly messageId: string; readonly eventId: string }
  /** It can never be valid and is durably in `_rejected` with the reason. */
  | { readonly kind: 'rejected'; readonly messageId: string; readonly reason: string }
  /** Nothing was stored for it: the bus must deliver it again. */
  | { readonly kind: 'failed'; readonly messageId: string; readonly error: unknown; readonly retryable: boolean };

export interface BatchLoaderDeps {
  readonly sink: Pick<RowSink, 'appendChanges' | 'appendRejected'>;
  readonly clock: Clock;
  readonly logger: Logger;
  /**
   * How much of a rejected message's data `_rejected` keeps; `DEFAULTS.loader.rejectedPayloadMaxBytes`.
   * Enough to see what was sent and replay a typical message by hand, while a 10 MB garbage body
   * cannot bloat the rejects table.
   */
  readonly rejectedPayloadMaxBytes?: number;
  /**
   * The tables events may write to (`tableAllowlist(config.sources)`); any other is rejected with
   * the reason. Absent: every table is taken (tests of the core that have no config).
   */
  readonly tables?: TableAllowlist;
  /**
   * Where claim-checked records are fetched from (the backend's payload store); absent: a message
   * that refers to one fails (retried, then dead-lettered with its reference), naming `payloadStoreSetting`.
   */
  readonly payloads?: Pick<PayloadStore, 'get'>;
  /** The setting that gives the loader a payload store, for that error; default `gcp.storage.payloadBucket`. */
  readonly payloadStoreSetting?: string;
}

/** A message as a transport hands it over. */
export interface DeliveredMessage extends PushedMessage {
  /**
   * What `_rejected` keeps if the message is rejected, instead of its data: the push path keeps the
   * whole request body, so that the attributes a binary-mode CloudEvent lives in are kept too and
   * the request can be replayed as it came.
   */
  readonly rejectedPayload?: Buffer;
}

/**
 * What the transport received but could not even read as a message (a push body that is not a
 * Pub/Sub envelope): it is rejected with `unreadable` as the reason, through the same batch, so
 * that it is acked only once it is durably in `_rejected`.
 */
export interface UnreadableMessage {
  readonly unreadable: string;
  readonly messageId: string | null;
  readonly subscription: string | null;
  readonly payload: Buffer;
}

export type LoaderMessage = DeliveredMessage | UnreadableMessage;

/**
 * Loads a batch of bus messages; resolves with one outcome per message, in the order given, and
 * never rejects. An outcome's `messageId` is '' for an unreadable message without one.
 */
export type BatchLoader = (messages: readonly LoaderMessage[]) => Promise<MessageOutcome[]>;

/**
 * The loader's core: a batch of messages → decoded rows → one warehouse append per table.
 *
 * - A message that can never become a change (not a CloudEvent, a bad change) goes to
 *   `_rejected` with the reason, in one append for the batch, and is acked.
 * - The rows of one table are appended in one call. If the warehouse refuses a row for good
 *   (`WAREHOUSE.INVALID_ROW`, `WAREHOUSE.ROW_TOO_LARGE`), the batch is halved until that row is
 *   alone; it is rejected with the warehouse's reason and its neighbours land.
 * - Any other failure fails the messages whose rows it held, and only those: the bus redelivers
 *   them, and counts each one's attempts on its own towards the dead-letter limit.
 *
 * A message is `written` only once the append holding its row resolved (durable).
 */
export function createBatchLoader(deps: BatchLoaderDeps): BatchLoader {
  const log = deps.logger.child({ component: 'batch-loader' });
  const maxPayloadBytes = deps.rejectedPayloadMaxBytes ?? DEFAULTS.loader.rejectedPayloadMaxBytes;

  function rejectedRow(message: LoaderMessage, receivedAt: Date, reason: string): RejectedRow {
    const data = 'unreadable' in message ? message.payload : (message.rejectedPayload ?? message.data);
    const payload = truncateUtf8(data, maxPayloadBytes);
    const kept = Buffer.byteLength(payload);
    // A claim-checked message's data is empty: the reason keeps where its record is.
    const location = 'unreadable' in message ? undefined : message.attributes[PayloadAttribute.location];
    const where = location === undefined ? '' : ` [record at ${location}]`;
    return {
      message_id: message.messageId === '' ? null : message.messageId,
      subscription: message.subscription === '' ? null : message.subscription,
      reason:
        kept < data.length ? `${reason}${where} [payload: first ${kept} of ${data.length} bytes]` : `${reason}${where}`,
      payload,
      received_at: receivedAt,
    };
  }

  /** Appends the rows of one table, halving around rows the warehouse refuses for good. */
  async function appendTable(
    table: string,
    items: readonly Decoded[],
    outcomes: MessageOutcome[],
    refused: { index: number; row: RejectedRow }[],
    receivedAt: Date,
  ): Promise<void> {
    const results = await appendIsolating(items, (part) =>
      deps.sink.appendChanges(
        table,
        part.map((i) => i.row),
      ),
    );
    let failure: unknown;
    results.forEach((result, k) => {
      const item = items[k];
      if (item === undefined) return;
      if (result.ok) {
        outcomes[item.index] = { kind: 'written', messageId: item.row.message_id, eventId: item.row.event_id };
      } else if (result.refused) {
        refused.push({ index: item.index, row: rejectedRow(item.message, receivedAt, errorMessage(result.error)) });
      } else {
        failure = result.error;
        outcomes[item.index] = {
          kind: 'failed',
          messageId: item.row.message_id,
          error: result.error,
          retryable: isRetryable(result.error),
        };
      }
    });
    if (failure !== undefined) {
      log.error('append failed; the bus will redeliver these messages', {
        table,
        messages: results.filter((r) => !r.ok && !r.refused).length,
        error: errorMessage(failure),
        retryable: isRetryable(failure),
      });
    }
  }

  return async (messages) => {
    const receivedAt = deps.clock.now();
    const outcomes: MessageOutcome[] = new Array<MessageOutcome>(messages.length);
    const rejected: { index: number; row: RejectedRow }[] = [];
    const byTable = new Map<string, Decoded[]>();
    const resolutions = await resolvePayloads(
      messages,
      deps.payloads,
      deps.payloadStoreSetting ?? 'gcp.storage.payloadBucket',
    );
    messages.forEach((message, index) => {
      if ('unreadable' in message) {
        rejected.push({ index, row: rejectedRow(message, receivedAt, message.unreadable) });
        return;
      }
      const resolution = resolutions[index] ?? { kind: 'inline' };
      if (resolution.kind === 'refused') {
        rejected.push({ index, row: rejectedRow(message, receivedAt, resolution.reason) });
        return;
      }
      if (resolution.kind === 'failed') {
        log.warn('claim-checked record not available; the bus will redeliver', {
          messageId: message.messageId,
          location: message.attributes[PayloadAttribute.location],
          error: errorMessage(resolution.error),
        });
        outcomes[index] = { kind: 'failed', messageId: message.messageId, error: resolution.error, retryable: true };
        return;
      }
      try {
        const data = resolution.kind === 'resolved' ? resolution.data : message.data;
        const change = decodeChangeMessage(data, message.attributes);
        const refusal = deps.tables?.refusal(change);
        if (refusal !== undefined) {
          rejected.push({ index, row: rejectedRow(message, receivedAt, refusal) });
          return;
        }
        const decoded = { index, message, row: toChangeRow(change, message, receivedAt) };
        const table = change.table;
        const rows = byTable.get(table);
        if (rows === undefined) byTable.set(table, [decoded]);
        else rows.push(decoded);
      } catch (e: unknown) {
        if (e instanceof ValidationError) rejected.push({ index, row: rejectedRow(message, receivedAt, e.message) });
        else outcomes[index] = { kind: 'failed', messageId: message.messageId, error: e, retryable: true };
      }
    });
    // Tables are appended concurrently: the warehouses serialize writes per table, not across them.
    await Promise.all([...byTable].map(([table, items]) => appendTable(table, items, outcomes, rejected, receivedAt)));
    if (rejected.length > 0) {
      try {
        await deps.sink.appendRejected(rejected.map((r) => r.row));
        for (const r of rejected) {
          outcomes[r.index] = { kind: 'rejected', messageId: r.row.message_id ?? '', reason: r.row.reason };
          log.warn('message rejected', { messageId: r.row.message_id, reason: r.row.reason });
        }
      } catch (e: unknown) {
        log.error('could not record rejected messages; the bus will redeliver them', {
          messages: rejected.length,
          error: errorMessage(e),
        });
        for (const r of rejected) {
          outcomes[r.index] = { kind: 'failed', messageId: r.row.message_id ?? '', error: e, retryable: true };
        }
      }
    }
    return outcomes;
  };
}

/** Outcomes as a bus takes them: stored (written or rejected) acks, failed asks for redelivery. */
export function deliveryResults(
  outcomes: readonly MessageOutcome[],
): ({ readonly ok: true } | { readonly ok: false; readonly error: string })[] {
  return outcomes.map((o) => (o.kind === 'failed' ? { ok: false, error: errorMessage(o.error) } : { ok: true }));
}

interface Decoded {
  /** The message's position in the batch. */
  readonly index: number;
  readonly message: DeliveredMessage;
  readonly row: ChangeRow;
}
