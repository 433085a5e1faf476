import { createHash } from 'node:crypto';
import {
  buildChangeMessage,
  changeMessageBuilder,
  changeToMessage,
  eventId,
  Extension,
  type ChangeEvent,
} from '@changefeed/shared/events';
import type { OutboundMessage } from '@changefeed/shared/ports';

const base: ChangeEvent = {
  id: eventId('carts', '42', 3, 'updated', 'h1'),
  type: 'updated',
  source: 'carts',
  table: 'carts',
  entityId: '42',
  version: 3,
  time: new Date('2026-11-23T10:00:00.123Z'),
  record: { id: 42, total: 19.5, items: [{ sku: 'a', qty: 2 }] },
};

const spread: [string, Partial<ChangeEvent>][] = [
  ['a creation', { type: 'created', version: 1 }],
  ['an update', {}],
  ['a deletion with a null record', { type: 'deleted', record: null, version: 4 }],
  ['a record that is absent', { type: 'deleted', record: undefined }],
  [
    'unicode in the record',
    { record: { name: 'Malmö 🛒', note: 'line\u2028sep', quote: '"\\', lone: '\ud800', zero: '\u0000' } },
  ],
  [
    'a deeply nested record',
    { record: { a: { b: { c: [1, [2, [3, { d: null, e: true, f: -0, g: 1e21, h: 0.1 + 0.2 }]]] } }, empty: {} } },
  ],
  ['an array record', { record: [1, 'two', { three: 3 }] }],
  ['a string record, which the SDK sends as it is', { record: 'plain text' }],
  ['a number record', { record: 12.5 }],
  ['an entity id with a slash', { entityId: 'a/b/c' }],
  ['an entity id with spaces and quotes', { entityId: ` it's "x" ` }],
  ['an entity id with unicode', { entityId: 'é🛒\u2028' }],
  ['an entity id that looks percent-encoded', { entityId: '%2F%zz' }],
  ['a long entity id', { entityId: 'x'.repeat(5000) }],
  ['a source name that needs encoding in ce-source', { source: 'my shop/carts é', table: 'my_carts' }],
  ['a large version', { version: Number.MAX_SAFE_INTEGER }],
  ['a version past exact integers', { version: 1e21 }],
  ['the epoch', { time: new Date(0) }],
  ['the last millisecond of year 9999', { time: new Date('9999-12-31T23:59:59.999Z') }],
];

/** Every byte a consumer sees: data, attribute names, values and their order, ordering key, id. */
function wire(m: OutboundMessage): { id: string; orderingKey: string; data: string; attributes: string } {
  return {
    id: m.id,
    orderingKey: m.orderingKey,
    data: m.data.toString('hex'),
    attributes: JSON.stringify(Object.entries(m.attributes)),
  };
}

describe('changeMessageBuilder', () => {
  it.each(spread)('builds exactly what the cloudevents SDK path builds for %s', (_what, override) => {
    const change: ChangeEvent = { ...base, ...override };
    const reference = changeToMessage(change);
    const fast = buildChangeMessage(change);
    expect(wire(fast)).toEqual(wire(reference));
    expect(fast).toEqual(reference);
  });

  it('builds a whole group with one builder as the SDK builds each change alone', () => {
    const time = new Date('2026-01-02T03:04:05.678Z');
    const toMessage = changeMessageBuilder({ source: 'carts', table: 'carts', time });
    for (let n = 1; n <= 50; n++) {
      const type = n % 3 === 0 ? 'deleted' : n % 2 === 0 ? 'updated' : 'created';
      const record = type === 'deleted' ? null : { id: n, items: Array.from({ length: n % 5 }, (_, i) => ({ i })) };
      const change: ChangeEvent = {
        id: eventId('carts', String(n), n, type, type === 'deleted' ? '' : `h${n}`),
        type,
        source: 'carts',
        table: 'carts',
        entityId: String(n),
        version: n,
        time,
        record,
      };
      expect(wire(toMessage(change))).toEqual(wire(changeToMessage(change)));
    }
  });

  it('uses the extension names the loader reads, valid CloudEvents attribute names', () => {
    const names = Object.keys(buildChangeMessage(base).attributes);
    for (const extension of Object.values(Extension)) {
      expect(extension).toMatch(/^[a-z0-9]{1,20}$/);
      expect(names).toContain(`ce-${extension}`);
    }
  });

  it('refuses an empty entity id, as the SDK does (CloudEvents needs a non-empty subject)', () => {
    const change: ChangeEvent = { ...base, entityId: '' };
    expect(() => changeToMessage(change)).toThrow();
    expect(() => buildChangeMessage(change)).toThrow(/non-empty entity id/);
  });

  it('refuses a time outside RFC 3339, which the SDK rejects too', () => {
    const change: ChangeEvent = { ...base, time: new Date('+010000-01-01T00:00:00.000Z') };
    expect(() => changeToMessage(change)).toThrow();
    expect(() => buildChangeMessage(change)).toThrow(/RFC 3339/);
  });

  it('refuses an empty source or table', () => {
    expect(() => changeMessageBuilder({ source: '', table: 'carts', time: base.time })).toThrow(/source and a table/);
    expect(() => changeMessageBuilder({ source: 'carts', table: '', time: base.time })).toThrow(/source and a table/);
  });
});

describe('eventId', () => {
  it('is the first 128 bits of sha256 over the JSON of its five components, unicode included', () => {
    const cases: [string, string, number, 'created' | 'updated' | 'deleted', string][] = [
      ['carts', '42', 3, 'updated', 'h1'],
      ['shop é', 'é🛒/\ud800', Number.MAX_SAFE_INTEGER, 'deleted', ''],
      ['carts', '"quoted"\n', 1e21, 'created', 'ffff'],
    ];
    for (const [source, entity, version, type, hash] of cases) {
      const reference = createHash('sha256')
        .update(JSON.stringify([source, entity, version, type, hash]))
        .digest('hex')
        .slice(0, 32);
      expect(eventId(source, entity, version, type, hash)).toBe(reference);
    }
  });

  it('keeps the ids it gave before', () => {
    expect(eventId('carts', '42', 3, 'updated', 'h1')).toBe('d0b6f36bf1cbddedac5db63aad6c00ff');
  });
});
