import type { DecodedChange, PushedMessage } from '@changefeed/shared/events';
import type { ChangeRow } from '@changefeed/shared/ports';

/**
 * The `<table>_changes` row for one decoded change event, as the loader received it. Pure: the
 * caller passes the ingestion time so that retries and tests control it.
 *
 * `delivery_attempt` is null when the bus did not report it. Pub/Sub reports attempts from 1
 * (https://cloud.google.com/pubsub/docs/handling-failures#track-delivery-attempts); 0 only appears
 * when no dead-letter policy is set, so it means "unknown", not "zeroth attempt".
 */
export function toChangeRow(decoded: DecodedChange, message: PushedMessage, ingestedAt: Date): ChangeRow {
  return {
    event_id: decoded.id,
    event_type: decoded.type,
    source: decoded.source,
    entity_id: decoded.entityId,
    version: decoded.version,
    data: decoded.recordJson,
    event_time: decoded.time,
    publish_time: message.publishTime,
    ingested_at: ingestedAt,
    delivery_attempt: message.deliveryAttempt === null || message.deliveryAttempt < 1 ? null : message.deliveryAttempt,
    message_id: message.messageId,
  };
}
