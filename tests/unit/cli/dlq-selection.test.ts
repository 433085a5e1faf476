import { ValidationError } from '@changefeed/shared/errors';
import { changeToMessage, cloudEventSource } from '@changefeed/shared/events';
import type { DeadLetter } from '@changefeed/shared/ports';
import { summarizeLetter } from '../../../services/cli/src/dlq/letter-context';
import { letterFilter, parseLetterCondition, parseTimeBound } from '../../../services/cli/src/dlq/letter-filter';
import { cartChange } from '../../support/loader-fakes';

const NOW = new Date('2026-06-10T12:00:00.000Z');

function letter(
  cart: number,
  overrides: { type?: 'created' | 'updated' | 'deleted'; lastFailureAt?: Date | null; source?: string } = {},
): DeadLetter {
  const m = changeToMessage(
    cartChange(cart, { type: overrides.type ?? 'updated', source: overrides.source ?? 'carts' }),
  );
  return {
    handle: String(cart),
    messageId: `m-${cart}`,
    orderingKey: m.orderingKey,
    data: m.data,
    attributes: m.attributes,
    deliveryAttempts: 5,
    firstFailureAt: null,
    lastFailureAt: overrides.lastFailureAt === undefined ? NOW : overrides.lastFailureAt,
    lastError: null,
  };
}

function select(letters: readonly DeadLetter[], ...filters: string[]): string[] {
  const where = letterFilter({ filter: filters.map(parseLetterCondition) });
  return letters.filter((l) => where === undefined || where(l)).map((l) => l.handle);
}

describe('--filter', () => {
  const letters = [
    letter(1, { type: 'created' }),
    letter(2, { type: 'updated' }),
    letter(3, { type: 'deleted' }),
    letter(4, { type: 'updated', source: 'orders' }),
  ];

  it('matches the event id, the short or full type, the source name or URI, the entity and any attribute exactly', () => {
    expect(select(letters, `id=${letters[1]?.attributes['ce-id'] ?? ''}`)).toEqual(['2']);
    expect(select(letters, 'type=updated')).toEqual(['2', '4']);
    expect(select(letters, 'type=dev.changefeed.entity.deleted')).toEqual(['3']);
    expect(select(letters, 'source=orders')).toEqual(['4']);
    expect(select(letters, `source=${cloudEventSource('carts')}`)).toEqual(['1', '2', '3']);
    expect(select(letters, 'entity=3')).toEqual(['3']);
    expect(select(letters, 'attr.ce-cfsource=orders')).toEqual(['4']);
    expect(select(letters, 'entity=1 ')).toEqual([]);
  });

  it('the same key twice matches either value; different keys must all match', () => {
    expect(select(letters, 'entity=1', 'entity=2', 'entity=4')).toEqual(['1', '2', '4']);
    expect(select(letters, 'entity=1', 'entity=2', 'entity=4', 'type=updated')).toEqual(['2', '4']);
    expect(select(letters, 'entity=1', 'entity=2', 'entity=4', 'type=updated', 'source=carts')).toEqual(['2']);
  });

  it('nothing to filter by gives no predicate at all', () => {
    expect(letterFilter({ filter: [] })).toBeUndefined();
  });

  it('a value may hold "=" and may be empty', () => {
    expect(parseLetterCondition('attr.x=a=b')).toEqual({ key: 'attr.x', value: 'a=b' });
    expect(parseLetterCondition('entity=')).toEqual({ key: 'entity', value: '' });
  });

  it.each([
    ['type', 'expected KEY=VALUE, got "type"'],
    ['kind=created', 'unknown key "kind"'],
    ['attr.=x', 'unknown key "attr."'],
    ['constructor=x', 'unknown key "constructor"'],
  ])('"%s" is refused, saying why', (expression, message) => {
    expect(() => parseLetterCondition(expression)).toThrow(ValidationError);
    expect(() => parseLetterCondition(expression)).toThrow(message);
  });
});

describe('--since and --until', () => {
  it('an age counts back from now; a date is midnight UTC; a date-time keeps its offset', () => {
    expect(parseTimeBound('2h', NOW, '--since')).toEqual(new Date('2026-06-10T10:00:00.000Z'));
    expect(parseTimeBound('90m', NOW, '--since')).toEqual(new Date('2026-06-10T10:30:00.000Z'));
    expect(parseTimeBound('7d', NOW, '--since')).toEqual(new Date('2026-06-03T12:00:00.000Z'));
    expect(parseTimeBound('2026-06-01', NOW, '--since')).toEqual(new Date('2026-06-01T00:00:00.000Z'));
    expect(parseTimeBound('2026-06-01T10:15Z', NOW, '--since')).toEqual(new Date('2026-06-01T10:15:00.000Z'));
    expect(parseTimeBound('2026-06-01T10:15:30.5+02:00', NOW, '--until')).toEqual(new Date('2026-06-01T08:15:30.500Z'));
  });

  it.each(['yesterday', '2', '2026-02-30', '2026-13-01', '2026-06-01T10:15', '2026-06-01T25:00Z', '-2h', ''])(
    '"%s" is refused, naming the flag',
    (text) => {
      expect(() => parseTimeBound(text, NOW, '--until')).toThrow(/^--until: expected an age/);
    },
  );

  it('select by when a letter was dead-lettered: --since inclusive, --until exclusive; an unknown time matches no bound', () => {
    const at = (iso: string) => new Date(iso);
    const letters = [
      letter(1, { lastFailureAt: at('2026-06-10T09:00:00Z') }),
      letter(2, { lastFailureAt: at('2026-06-10T10:00:00Z') }),
      letter(3, { lastFailureAt: at('2026-06-10T11:00:00Z') }),
      letter(4, { lastFailureAt: null }),
    ];
    const where = letterFilter({ filter: [], since: at('2026-06-10T10:00:00Z'), until: at('2026-06-10T11:00:00Z') });

    expect(letters.filter((l) => where?.(l)).map((l) => l.handle)).toEqual(['2']);
  });
});

describe('summarizeLetter', () => {
  it('reads the event id, short type, source name, entity and version of a change event', () => {
    const l = letter(7, { type: 'deleted' });

    expect(summarizeLetter(l)).toEqual({
      eventId: l.attributes['ce-id'],
      type: 'deleted',
      source: 'carts',
      entity: '7',
      version: '2',
    });
  });

  it('reads a structured-mode CloudEvent from its data, and leaves unknown what a foreign message does not say', () => {
    const structured: DeadLetter = {
      ...letter(1),
      attributes: { 'content-type': 'application/cloudevents+json; charset=utf-8' },
      data: Buffer.from(JSON.stringify({ id: 'e-1', type: 'com.example.thing', source: '/elsewhere', subject: 's' })),
    };
    const foreign: DeadLetter = { ...letter(2), attributes: { origin: 'someone else' }, data: Buffer.from('hello') };

    expect(summarizeLetter(structured)).toEqual({
      eventId: 'e-1',
      type: 'com.example.thing',
      source: '/elsewhere',
      entity: 's',
      version: null,
    });
    expect(summarizeLetter(foreign)).toEqual({ eventId: null, type: null, source: null, entity: null, version: null });
  });
});
