import { EVENT_TYPE_PREFIX, Extension } from '@changefeed/shared/events';
import type { DeadLetter } from '@changefeed/shared/ports';

/** What an operator recognises a dead letter by, read from its CloudEvent; null where it does not say. */
export interface LetterSummary {
  readonly eventId: string | null;
  /** `created`, `updated` or `deleted` for our events; another producer's type as it is. */
  readonly type: string | null;
  /** The configured source name (`cfsource`), else the CloudEvent `source`. */
  readonly source: string | null;
  /** The entity id (CloudEvent `subject`). */
  readonly entity: string | null;
  readonly version: string | null;
}

/**
 * The CloudEvent context attributes of a dead letter, by lower-case name without the `ce-` prefix:
 * from its `ce-*` attributes (binary content mode, what the poller publishes) or, for a message in
 * structured mode, from the top-level string fields of its JSON data. Empty when it is neither,
 * e.g. a message another producer put on the topic.
 * https://github.com/cloudevents/spec/blob/main/cloudevents/bindings/google-cloud-pubsub-protocol-binding.md
 */
export function letterContext(letter: DeadLetter): ReadonlyMap<string, string> {
  const context = new Map<string, string>();
  for (const [name, value] of Object.entries(letter.attributes)) {
    const lower = name.toLowerCase();
    if (lower.startsWith('ce-')) context.set(lower.slice(3), value);
  }
  if (context.size > 0 || !isStructured(letter.attributes)) return context;
  let document: unknown;
  try {
    document = JSON.parse(letter.data.toString('utf8'));
  } catch {
    return context;
  }
  if (typeof document !== 'object' || document === null || Array.isArray(document)) return context;
  for (const [name, value] of Object.entries(document)) {
    if (typeof value === 'string' && name !== 'data') context.set(name.toLowerCase(), value);
  }
  return context;
}

export function summarizeLetter(letter: DeadLetter): LetterSummary {
  const context = letterContext(letter);
  const type = context.get('type') ?? null;
  return {
    eventId: context.get('id') ?? null,
    type: type !== null && type.startsWith(EVENT_TYPE_PREFIX) ? type.slice(EVENT_TYPE_PREFIX.length) : type,
    source: context.get(Extension.source) ?? context.get('source') ?? null,
    entity: context.get('subject') ?? null,
    version: context.get(Extension.version) ?? null,
  };
}

function isStructured(attributes: Readonly<Record<string, string>>): boolean {
  const contentType = Object.entries(attributes).find(([name]) => name.toLowerCase() === 'content-type')?.[1];
  return contentType?.toLowerCase().startsWith('application/cloudevents+json') === true;
}
