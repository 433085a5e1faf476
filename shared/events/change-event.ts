import { hash } from 'node:crypto';
import { CloudEvent, HTTP } from 'cloudevents';
import type { OutboundMessage } from '../ports/event-publisher';
import type { EventType } from '../ports/row-sink';

/** CloudEvents `type` of each change: `dev.changefeed.entity.created` etc. */
export const EVENT_TYPE_PREFIX = 'dev.changefeed.entity.';

/**
 * Extension attributes (CloudEvents 1.0 §3.1.1: lowercase a-z/0-9, at most 20 characters) that
 * carry what the loader needs to place the row without reading any config.
 */
export const Extension = {
  /** The configured source name. */
  source: 'cfsource',
  /** The warehouse table stem: rows go to `<table>_changes`. */
  table: 'cftable',
  /** The entity's change counter (decimal string). */
  version: 'cfversion',
} as const;

/** What one change says, independent of its wire form. */
export interface ChangeEvent {
  readonly id: string;
  readonly type: EventType;
  readonly source: string;
  readonly table: string;
  readonly entityId: string;
  readonly version: number;
  /** When the poller detected the change. */
  readonly time: Date;
  /** The record as the API returned it; null for a deletion. */
  readonly record: unknown;
}

/**
 * Deterministic event id: hash(source, entity id, version, type, content hash), 128 bits in hex.
 * The same change retried gets the same id (so the warehouse can drop the duplicate), while
 * A→B→A→B still yields four ids because the version moves on every change. The content hash is
 * there for one crash case: B published as v2 but not committed, then the API moves on to C before
 * the next cycle; C is also v2, and without the hash it would reuse B's id and be dropped as B's
 * duplicate. For deletions the content hash is ''.
 */
export function eventId(
  source: string,
  entityId: string,
  version: number,
  type: EventType,
  contentHash: string,
): string {
  // crypto.hash: the same digest as createHash().update().digest(), without a Hash object per event.
  return hash('sha256', JSON.stringify([source, entityId, version, type, contentHash]), 'hex').slice(0, 32);
}

/** Pub/Sub ordering key: all events of one entity are delivered in order. */
export function orderingKey(source: string, entityId: string): string {
  return `${source}/${entityId}`;
}

export function cloudEventSource(source: string): string {
  return `/changefeed/sources/${encodeURIComponent(source)}`;
}

/**
 * Builds the CloudEvent for a change. The id and time are passed explicitly: the SDK would invent
 * a random UUID and the current time otherwise, and retries must reproduce the same event.
 *
 * This SDK path is the reference that changeMessageBuilder (change-message.ts, the poller's hot
 * path) must match byte for byte; tests and tools build their messages with it.
 */
export function buildCloudEvent(change: ChangeEvent): CloudEvent<unknown> {
  return new CloudEvent<unknown>({
    specversion: '1.0',
    id: change.id,
    source: cloudEventSource(change.source),
    type: `${EVENT_TYPE_PREFIX}${change.type}`,
    subject: change.entityId,
    time: change.time.toISOString(),
    datacontenttype: 'application/json',
    data: change.record,
    [Extension.source]: change.source,
    [Extension.table]: change.table,
    [Extension.version]: String(change.version),
  });
}

/**
 * The CloudEvent as a Pub/Sub message in binary content mode: data is the JSON record, every
 * context attribute a `ce-*` message attribute, `content-type` the data's media type.
 * https://github.com/cloudevents/spec/blob/main/cloudevents/bindings/google-cloud-pubsub-protocol-binding.md
 */
export function toOutboundMessage(event: CloudEvent<unknown>, key: string): OutboundMessage {
  const binary = HTTP.binary(event);
  const attributes: Record<string, string> = {};
  for (const [name, value] of Object.entries(binary.headers)) {
    if (value !== undefined) attributes[name] = String(value);
  }
  const body = binary.body;
  const data =
    body === undefined || body === null
      ? Buffer.alloc(0)
      : typeof body === 'string'
        ? Buffer.from(body, 'utf8')
        : Buffer.from(JSON.stringify(body), 'utf8');
  return { id: event.id, orderingKey: key, data, attributes };
}

export function changeToMessage(change: ChangeEvent): OutboundMessage {
  return toOutboundMessage(buildCloudEvent(change), orderingKey(change.source, change.entityId));
}
