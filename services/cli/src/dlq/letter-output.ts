import type { DeadLetter } from '@changefeed/shared/ports';
import { summarizeLetter } from './letter-context';

/** One dead letter as a JSON line of `dlq list` (and the base of `peek` and `replay`'s lines). */
export function letterJson(letter: DeadLetter): Record<string, unknown> {
  return {
    handle: letter.handle,
    messageId: letter.messageId,
    ...summarizeLetter(letter),
    orderingKey: letter.orderingKey,
    deliveryAttempts: letter.deliveryAttempts,
    firstFailureAt: letter.firstFailureAt?.toISOString() ?? null,
    lastFailureAt: letter.lastFailureAt?.toISOString() ?? null,
    lastError: letter.lastError,
  };
}

/** One dead letter as a row of `dlq list`'s table. */
export function letterRow(letter: DeadLetter): Record<string, unknown> {
  const s = summarizeLetter(letter);
  return {
    'event id': s.eventId,
    type: s.type,
    source: s.source,
    entity: s.entity,
    version: s.version,
    attempts: letter.deliveryAttempts,
    'first failure': letter.firstFailureAt?.toISOString() ?? null,
    'last failure': letter.lastFailureAt?.toISOString() ?? null,
    'last error': letter.lastError,
  };
}

/** Everything about one dead letter, `dlq peek --json`: the data as JSON when it is JSON, else base64. */
export function letterDetailJson(letter: DeadLetter): Record<string, unknown> {
  const data = decodeData(letter.data);
  return {
    ...letterJson(letter),
    attributes: { ...letter.attributes },
    ...(data.json ? { data: data.value } : { dataBase64: letter.data.toString('base64') }),
  };
}

/** Everything about one dead letter for people, `dlq peek`. */
export function letterDetailText(letter: DeadLetter): string {
  const s = summarizeLetter(letter);
  const what = [s.type, s.source === null || s.entity === null ? (s.entity ?? s.source) : `${s.source}/${s.entity}`]
    .filter((p) => p !== null)
    .join(' ');
  const lines = [
    `event ${s.eventId ?? '(no CloudEvent id)'}${what === '' ? '' : ` (${what}${s.version === null ? '' : `, version ${s.version}`})`}`,
    field('handle', letter.handle),
    field('message id', letter.messageId),
    field('ordering key', letter.orderingKey ?? '(none)'),
    field('attempts', String(letter.deliveryAttempts)),
    field('first failure', letter.firstFailureAt?.toISOString() ?? '(not recorded)'),
    field('last failure', letter.lastFailureAt?.toISOString() ?? '(not recorded)'),
    field('last error', letter.lastError ?? '(not recorded)'),
    '  attributes',
    ...Object.entries(letter.attributes)
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([name, value]) => `    ${name}: ${value}`),
    `  data (${letter.data.length} bytes)`,
  ];
  const data = decodeData(letter.data);
  const body = data.json ? JSON.stringify(data.value, null, 2) : `base64 ${letter.data.toString('base64')}`;
  lines.push(...body.split('\n').map((l) => `    ${l}`));
  return `${lines.join('\n')}\n`;
}

function field(name: string, value: string): string {
  return `  ${name.padEnd(14)}${value}`;
}

function decodeData(data: Buffer): { readonly json: true; readonly value: unknown } | { readonly json: false } {
  if (data.length === 0) return { json: false };
  try {
    return { json: true, value: JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(data)) as unknown };
  } catch {
    return { json: false };
  }
}
