import { HTTP, type CloudEventV1 } from 'cloudevents';
import { z } from 'zod';
import { ValidationError, errorMessage } from '../errors';
import { summarizeIssues, validationIssues } from '../errors/zod-issues';
import { CHANGES_TABLE } from '../warehouse/tables';
import { VALUE_RANGES, isStorableText, valueProblem } from '../warehouse/value-ranges';
import { EVENT_TYPE_PREFIX, Extension, type ChangeEvent } from './change-event';

/**
 * A context attribute that becomes a `<table>_changes` column must fit that column as both
 * warehouses store it (`valueProblem`, the one definition of each type's range), so that an event
 * this accepts is never refused by the warehouse afterwards.
 */
function fitsColumn<T>(column: string, toValue: (raw: string) => T): (raw: string) => boolean {
  const spec = CHANGES_TABLE.columns.find((c) => c.name === column);
  if (spec === undefined) throw new Error(`${column} is not a column of <table>_changes`);
  return (raw) => valueProblem(spec.type, toValue(raw)) === undefined;
}

const LONE_SURROGATE = 'expected valid Unicode text (no lone surrogate)';

const attributesSchema = z.object({
  specversion: z.literal('1.0'),
  id: z.string().min(1).max(256).refine(isStorableText, LONE_SURROGATE),
  source: z.string().min(1),
  type: z.enum([`${EVENT_TYPE_PREFIX}created`, `${EVENT_TYPE_PREFIX}updated`, `${EVENT_TYPE_PREFIX}deleted`], {
    error: `expected ${EVENT_TYPE_PREFIX}created|updated|deleted`,
  }),
  subject: z.string().min(1).refine(isStorableText, LONE_SURROGATE),
  time: z.iso.datetime({ offset: true }).refine(
    fitsColumn('event_time', (raw) => new Date(raw)),
    `expected a time from ${VALUE_RANGES.timestamp.min.toISOString()} to ${VALUE_RANGES.timestamp.max.toISOString()}`,
  ),
  [Extension.source]: z.string().regex(/^[a-z][a-z0-9_]{0,62}$/),
  [Extension.table]: z.string().regex(/^[A-Za-z_][A-Za-z0-9_]{0,900}$/),
  [Extension.version]: z
    .string()
    .regex(/^[1-9]\d*$/, 'expected a positive integer')
    .refine(fitsColumn('version', Number), `expected a positive integer up to ${VALUE_RANGES.int64.max}`),
});

/**
 * A change event as the loader stores it: its attributes checked, its record kept as JSON text.
 * In binary mode that text is the message data exactly as published, checked only to be an
 * object or array: whether it is JSON is left to the warehouse's check of its JSON columns, done
 * in bulk (DuckDB) or before the request (BigQuery), so the loader never parses a record it only
 * stores. A record that is not JSON is then refused by the warehouse, alone, into `_rejected`.
 */
export interface DecodedChange extends Omit<ChangeEvent, 'record'> {
  /** Null for a deletion. */
  readonly recordJson: string | null;
}

/**
 * Decodes a change event from a bus message: binary mode (`ce-*` attributes, data = JSON record)
 * or structured mode (data = a whole CloudEvent JSON document). Throws ValidationError naming
 * every bad attribute, or data that is not JSON; such a message can never become valid.
 */
export function parseChangeMessage(data: Buffer, attributes: Readonly<Record<string, string>>): ChangeEvent {
  const { recordJson, ...event } = decodeChangeMessage(data, attributes);
  return { ...event, record: recordJson === null ? null : parseJson(recordJson, 'data') };
}

/** `parseChangeMessage` without parsing the record: see `DecodedChange`. */
export function decodeChangeMessage(data: Buffer, attributes: Readonly<Record<string, string>>): DecodedChange {
  const body = data.toString('utf8');
  const binary = Object.keys(attributes).some((k) => k.toLowerCase() === 'ce-specversion');
  // The raw context attributes are validated before the SDK sees them: it silently replaces an
  // unparsable `time` with the current time and reports a missing id as "no cloud event detected".
  const context = binary ? binaryContext(attributes) : structuredContext(body);
  const result = attributesSchema.safeParse(context);
  if (!result.success) {
    const issues = validationIssues(result.error, { pathPrefix: binary ? 'ce-' : '' });
    throw new ValidationError(`invalid change event: ${summarizeIssues(issues, 'event')}`, issues);
  }
  const a = result.data;
  const type = a.type.slice(EVENT_TYPE_PREFIX.length) as ChangeEvent['type'];
  const recordJson = type === 'deleted' ? null : binary ? binaryRecord(body, attributes) : structuredRecord(body);
  if (type !== 'deleted' && recordJson === null) {
    throw new ValidationError(`invalid change event: a ${type} event needs a JSON object or array as data`, [
      { path: 'data', message: 'expected a JSON object' },
    ]);
  }
  return {
    id: a.id,
    type,
    source: a[Extension.source],
    table: a[Extension.table],
    entityId: a.subject,
    version: Number(a[Extension.version]),
    time: new Date(a.time),
    recordJson,
  };
}

function binaryContext(attributes: Readonly<Record<string, string>>): Record<string, string> {
  const context: Record<string, string> = {};
  for (const [name, value] of Object.entries(attributes)) {
    const lower = name.toLowerCase();
    if (lower.startsWith('ce-')) context[lower.slice(3)] = value;
  }
  return context;
}

function structuredContext(body: string): unknown {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch (e: unknown) {
    throw new ValidationError(`not a CloudEvent: message data is not JSON (${errorMessage(e)})`, [
      { path: 'message.data', message: 'expected a structured-mode CloudEvent JSON document' },
    ]);
  }
  return parsed;
}

/**
 * Binary mode: the context attributes were validated above, so only the data is left: the record
 * text when it is JSON by its content type and starts as an object or array does, else null.
 * Decoded here rather than by the SDK's HTTP.toEvent, which validates nothing more in binary mode
 * (it builds the event with `strict` off) yet constructs two errors with stack traces for every
 * JSON body it parses: a fifth of the loader's CPU per push, measured by `npm run bench`.
 */
function binaryRecord(body: string, attributes: Readonly<Record<string, string>>): string | null {
  const contentType = attributeValue(attributes, 'content-type') ?? attributeValue(attributes, 'ce-datacontenttype');
  if (contentType !== undefined && !isJsonContentType(contentType)) return null;
  const first = body.trimStart()[0];
  return first === '{' || first === '[' ? body : null;
}

/** Structured mode is rare (other publishers); the SDK decodes it. */
function structuredRecord(body: string): string | null {
  let event: CloudEventV1<unknown>;
  try {
    const parsed = HTTP.toEvent<unknown>({
      headers: { 'content-type': 'application/cloudevents+json; charset=utf-8' },
      body,
    });
    if (Array.isArray(parsed)) throw new Error('expected one event, got a batch');
    event = parsed;
  } catch (e: unknown) {
    throw new ValidationError(`not a CloudEvent: ${errorMessage(e)}`, [{ path: 'message', message: errorMessage(e) }]);
  }
  const record = event.data ?? null;
  return record !== null && typeof record === 'object' ? JSON.stringify(record) : null;
}

function parseJson(text: string, path: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch (e: unknown) {
    throw new ValidationError(`not a CloudEvent: data is not JSON (${errorMessage(e)})`, [
      { path, message: 'expected JSON' },
    ]);
  }
}

function attributeValue(attributes: Readonly<Record<string, string>>, name: string): string | undefined {
  for (const [key, value] of Object.entries(attributes)) if (key.toLowerCase() === name) return value;
  return undefined;
}

function isJsonContentType(contentType: string): boolean {
  const mediaType = contentType.split(';')[0]?.trim().toLowerCase() ?? '';
  return mediaType === 'application/json' || mediaType.endsWith('+json') || mediaType === 'text/json';
}
