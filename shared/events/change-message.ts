import { ValidationError } from '../errors';
import type { OutboundMessage } from '../ports/event-publisher';
import type { EventType } from '../ports/row-sink';
import { cloudEventSource, EVENT_TYPE_PREFIX, orderingKey, type ChangeEvent } from './change-event';

/** What differs between the changes of one publish group; the rest is the group's context. */
export interface ChangeMessageFields {
  readonly id: string;
  readonly type: EventType;
  readonly entityId: string;
  readonly version: number;
  readonly record: unknown;
}

/** What all changes of one publish group share. */
export interface ChangeMessageContext {
  readonly source: string;
  readonly table: string;
  readonly time: Date;
}

const TYPES: Readonly<Record<EventType, string>> = {
  created: `${EVENT_TYPE_PREFIX}created`,
  updated: `${EVENT_TYPE_PREFIX}updated`,
  deleted: `${EVENT_TYPE_PREFIX}deleted`,
};

const EMPTY = Buffer.alloc(0);

/**
 * Builds the messages of one publish group without the cloudevents SDK, which constructs,
 * validates (ajv) and re-serialises a frozen event per change: most of the poller's per-event cost
 * outside JSON.stringify and SQLite. The output must equal changeToMessage's (the SDK path) byte
 * for byte, attribute order included, since ids, the loader and Pub/Sub consumers depend on it;
 * tests/unit/events/change-message.test.ts holds the two side by side.
 *
 * Of the SDK's checks only those our values can fail are kept: the attribute names are constants,
 * the source and table come from validated config, the id is a hex digest. What varies per change
 * is the subject (the entity id, never empty: CloudEvents requires a non-empty subject when there
 * is one) and the time (RFC 3339 only for years 0000–9999).
 */
export function changeMessageBuilder(context: ChangeMessageContext): (change: ChangeMessageFields) => OutboundMessage {
  const { source, table } = context;
  if (source === '' || table === '') throw new ValidationError('a change event needs a source and a table');
  const time = context.time.toISOString();
  if (time.length !== 24) throw new ValidationError(`event time ${time} is not an RFC 3339 timestamp`);
  const ceSource = cloudEventSource(source);
  return (change) => {
    if (change.entityId === '') throw new ValidationError('a change event needs a non-empty entity id (its subject)');
    const record = change.record;
    return {
      id: change.id,
      orderingKey: orderingKey(source, change.entityId),
      // The SDK sends a string as it is and JSON-encodes anything else (null included); only an
      // absent record makes empty data.
      data:
        record === undefined
          ? EMPTY
          : Buffer.from(typeof record === 'string' ? record : JSON.stringify(record), 'utf8'),
      // The order is the SDK's (HTTP.binary: content-type, then the event's own properties in
      // construction order, extensions last); the local bus stores the attributes as JSON text.
      attributes: {
        'content-type': 'application/json',
        'ce-id': change.id,
        'ce-time': time,
        'ce-type': TYPES[change.type],
        'ce-source': ceSource,
        'ce-specversion': '1.0',
        'ce-subject': change.entityId,
        'ce-cfsource': source,
        'ce-cftable': table,
        'ce-cfversion': String(change.version),
      },
    };
  };
}

/** changeToMessage without the SDK, for one change; a group should share one changeMessageBuilder. */
export function buildChangeMessage(change: ChangeEvent): OutboundMessage {
  return changeMessageBuilder(change)(change);
}
