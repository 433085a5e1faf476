import { parseDurationMs } from '@changefeed/shared/config';
import { EVENT_TYPE_PREFIX, Extension } from '@changefeed/shared/events';
import { ValidationError } from '@changefeed/shared/errors';
import type { DeadLetter } from '@changefeed/shared/ports';
import { letterContext } from './letter-context';

/** How `--filter`, `--since` and `--until` select dead letters, for `--help` (the README says the same). */
export const SELECTION_HELP = `
Selecting dead letters:
  --filter KEY=VALUE  exact match; KEY is one of
                        id         the event id (ce-id)
                        type       created, updated, deleted, or a full CloudEvents type
                        source     the source name (ce-cfsource)
                        entity     the entity id (ce-subject)
                        attr.NAME  any message attribute, e.g. attr.ce-cftable=carts
                      the same KEY twice matches either value; different KEYs must all match
  --since, --until    when it was dead-lettered: an age (30m, 2h, 7d) or an ISO-8601 date
                      (2024-06-01, midnight UTC) or date-time with Z or an offset
                      (2024-06-01T12:00:00Z); --since includes that instant, --until does not
`;

/** One `--filter KEY=VALUE`. */
export interface LetterCondition {
  /** The KEY as written, e.g. `type` or `attr.ce-cftable`: conditions on the same key are alternatives. */
  readonly key: string;
  readonly value: string;
}

/** Everything that narrows which dead letters a command works on. */
export interface LetterSelection {
  /** The `--filter`s. */
  readonly filter: readonly LetterCondition[];
  /** Dead-lettered at or after. */
  readonly since?: Date;
  /** Dead-lettered before. */
  readonly until?: Date;
}

type Matcher = (value: string, context: ReadonlyMap<string, string>) => boolean;

const MATCHERS: ReadonlyMap<string, Matcher> = new Map<string, Matcher>([
  ['id', (value, context) => context.get('id') === value],
  [
    'type',
    (value, context) => {
      const type = context.get('type');
      return type === value || type === `${EVENT_TYPE_PREFIX}${value}`;
    },
  ],
  ['source', (value, context) => context.get(Extension.source) === value || context.get('source') === value],
  ['entity', (value, context) => context.get('subject') === value],
]);

const ATTRIBUTE_PREFIX = 'attr.';

/** Parses one `--filter` expression; throws ValidationError naming what is wrong. */
export function parseLetterCondition(expression: string): LetterCondition {
  const at = expression.indexOf('=');
  const key = at < 0 ? '' : expression.slice(0, at).trim();
  const value = at < 0 ? '' : expression.slice(at + 1);
  const known = MATCHERS.has(key) || (key.startsWith(ATTRIBUTE_PREFIX) && key.length > ATTRIBUTE_PREFIX.length);
  if (at < 0 || !known) {
    const problem =
      at < 0
        ? `expected KEY=VALUE, got "${expression}"`
        : `unknown key "${key}" in "${expression}"; expected id, type, source, entity or attr.NAME`;
    throw new ValidationError(`--filter: ${problem}`, [{ path: '--filter', message: problem }]);
  }
  return { key, value };
}

/**
 * Parses a `--since` / `--until` value against `now`: an age (`2h`, `7d`: that long before now) or
 * an ISO-8601 date or date-time. A date-time must say its offset (`Z`, `+02:00`): an operator's
 * local time and the server's differ too often to guess. A bare date is midnight UTC.
 */
export function parseTimeBound(text: string, now: Date, flag: string): Date {
  const trimmed = text.trim();
  const ageMs = /^\d/.test(trimmed) && !trimmed.includes('-') ? parseDurationMs(trimmed) : undefined;
  if (ageMs !== undefined) return new Date(now.getTime() - ageMs);
  const date =
    /^(\d{4})-(\d{2})-(\d{2})(?:[Tt ](\d{2}):(\d{2})(?::(\d{2})(?:\.\d{1,9})?)?([Zz]|[+-]\d{2}:\d{2}))?$/.exec(trimmed);
  const parsed = date === null ? Number.NaN : Date.parse(trimmed.replace(' ', 'T'));
  // Date.parse rolls 2024-02-30 over into March; a real calendar day reads back unchanged.
  const realDay =
    date !== null &&
    new Date(Date.UTC(Number(date[1]), Number(date[2]) - 1, Number(date[3]))).toISOString().slice(0, 10) ===
      trimmed.slice(0, 10);
  if (!Number.isFinite(parsed) || !realDay) {
    const problem = `expected an age such as 30m, 2h or 7d, or an ISO-8601 date or date-time with an offset (2024-06-01, 2024-06-01T12:00:00Z), got "${text}"`;
    throw new ValidationError(`${flag}: ${problem}`, [{ path: flag, message: problem }]);
  }
  return new Date(parsed);
}

/** The predicate for DeadLetterQuery.where; undefined when nothing narrows the selection. */
export function letterFilter(selection: LetterSelection): ((letter: DeadLetter) => boolean) | undefined {
  const { since, until } = selection;
  const byKey = new Map<string, string[]>();
  for (const c of selection.filter) byKey.set(c.key, [...(byKey.get(c.key) ?? []), c.value]);
  if (byKey.size === 0 && since === undefined && until === undefined) return undefined;
  return (letter) => {
    const at = letter.lastFailureAt?.getTime();
    if (since !== undefined && (at === undefined || at < since.getTime())) return false;
    if (until !== undefined && (at === undefined || at >= until.getTime())) return false;
    if (byKey.size === 0) return true;
    const context = letterContext(letter);
    for (const [key, values] of byKey) {
      const matcher: Matcher =
        MATCHERS.get(key) ?? ((value) => letter.attributes[key.slice(ATTRIBUTE_PREFIX.length)] === value);
      if (!values.some((value) => matcher(value, context))) return false;
    }
    return true;
  };
}
