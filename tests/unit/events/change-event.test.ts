import {
  buildCloudEvent,
  changeToMessage,
  eventId,
  orderingKey,
  parseChangeMessage,
  type ChangeEvent,
} from '@changefeed/shared/events';

const change: ChangeEvent = {
  id: eventId('carts', '42', 3, 'updated', 'h1'),
  type: 'updated',
  source: 'carts',
  table: 'carts',
  entityId: '42',
  version: 3,
  time: new Date('2026-11-23T10:00:00.000Z'),
  record: { id: 42, total: 19.5, items: [{ sku: 'a', qty: 2 }] },
};

describe('eventId', () => {
  it('is a 32-hex-digit digest that depends only on its inputs', () => {
    const id = eventId('carts', '42', 3, 'updated', 'h1');
    expect(id).toMatch(/^[0-9a-f]{32}$/);
    expect(eventId('carts', '42', 3, 'updated', 'h1')).toBe(id);
  });

  it('changes with every component, so no two different changes share an id', () => {
    const base = eventId('carts', '42', 3, 'updated', 'h1');
    const variants = [
      eventId('orders', '42', 3, 'updated', 'h1'),
      eventId('carts', '43', 3, 'updated', 'h1'),
      eventId('carts', '42', 4, 'updated', 'h1'),
      eventId('carts', '42', 3, 'created', 'h1'),
      eventId('carts', '42', 3, 'updated', 'h2'),
    ];
    expect(new Set([base, ...variants]).size).toBe(6);
  });

  it('cannot be confused by separators inside the components', () => {
    expect(eventId('a', 'b/c', 1, 'created', '')).not.toBe(eventId('a/b', 'c', 1, 'created', ''));
  });
});

describe('buildCloudEvent', () => {
  it('builds a CloudEvents 1.0 event with the given id and time, not invented ones', () => {
    const event = buildCloudEvent(change);
    expect(event.specversion).toBe('1.0');
    expect(event.id).toBe(change.id);
    expect(event.time).toBe('2026-11-23T10:00:00.000Z');
    expect(event.type).toBe('dev.changefeed.entity.updated');
    expect(event.source).toBe('/changefeed/sources/carts');
    expect(event.subject).toBe('42');
    expect(event['cfversion']).toBe('3');
    expect(event['cftable']).toBe('carts');
    expect(event.data).toEqual(change.record);
  });
});

describe('changeToMessage', () => {
  it('encodes the event in binary mode with one ordering key per entity', () => {
    const message = changeToMessage(change);
    expect(message.id).toBe(change.id);
    expect(message.orderingKey).toBe(orderingKey('carts', '42'));
    expect(message.orderingKey).toBe('carts/42');
    expect(message.attributes).toMatchObject({
      'ce-id': change.id,
      'ce-specversion': '1.0',
      'ce-type': 'dev.changefeed.entity.updated',
      'ce-source': '/changefeed/sources/carts',
      'ce-subject': '42',
      'ce-time': '2026-11-23T10:00:00.000Z',
      'ce-cfsource': 'carts',
      'ce-cftable': 'carts',
      'ce-cfversion': '3',
    });
    expect(message.attributes['content-type']).toMatch(/^application\/json/);
    expect(JSON.parse(message.data.toString('utf8'))).toEqual(change.record);
  });

  it('round-trips through parseChangeMessage', () => {
    const message = changeToMessage(change);
    expect(parseChangeMessage(message.data, message.attributes)).toEqual(change);
  });

  it('round-trips a deletion, whose data is empty', () => {
    const deletion: ChangeEvent = { ...change, type: 'deleted', version: 4, record: null, id: 'd'.repeat(32) };
    const message = changeToMessage(deletion);
    expect(parseChangeMessage(message.data, message.attributes)).toEqual(deletion);
  });
});

describe('parseChangeMessage', () => {
  const good = changeToMessage(change);

  it('accepts structured mode (the whole CloudEvent as the message data)', () => {
    const structured = Buffer.from(
      JSON.stringify({
        specversion: '1.0',
        id: change.id,
        source: '/changefeed/sources/carts',
        type: 'dev.changefeed.entity.updated',
        subject: '42',
        time: '2026-11-23T10:00:00.000Z',
        datacontenttype: 'application/json',
        cfsource: 'carts',
        cftable: 'carts',
        cfversion: '3',
        data: change.record,
      }),
    );
    expect(parseChangeMessage(structured, {})).toEqual(change);
  });

  it.each([
    [
      'an unknown event type',
      { 'ce-type': 'dev.changefeed.entity.moved' },
      /ce-type: expected dev\.changefeed\.entity\.created\|updated\|deleted/,
    ],
    ['a zero version', { 'ce-cfversion': '0' }, /ce-cfversion: expected a positive integer/],
    ['a table name that is not an identifier', { 'ce-cftable': 'carts; drop table x' }, /ce-cftable/],
    ['a time that is not RFC 3339', { 'ce-time': 'yesterday' }, /ce-time/],
    // Past 2^53 − 1 the number is not the one sent (9999999999999999 parses to 10^16).
    [
      'a version no warehouse stores exactly',
      { 'ce-cfversion': '9999999999999999' },
      /ce-cfversion: expected a positive integer up to 9007199254740991/,
    ],
    [
      'a time before year 1, which BigQuery cannot store',
      { 'ce-time': '0000-12-31T00:00:00Z' },
      /ce-time: expected a time from 0001-01-01/,
    ],
    ['an entity id with a lone surrogate', { 'ce-subject': 'a\ud800' }, /ce-subject: expected valid Unicode text/],
  ])('rejects %s, naming the attribute', (_what, override, expected) => {
    expect(() => parseChangeMessage(good.data, { ...good.attributes, ...override })).toThrow(expected);
  });

  it('accepts the largest version and the extreme times both warehouses store', () => {
    const edge = { 'ce-cfversion': '9007199254740991', 'ce-time': '9999-12-31T23:59:59.999Z' };
    const parsed = parseChangeMessage(good.data, { ...good.attributes, ...edge });
    expect(parsed.version).toBe(Number.MAX_SAFE_INTEGER);
    expect(parsed.time).toEqual(new Date('9999-12-31T23:59:59.999Z'));
    expect(parseChangeMessage(good.data, { ...good.attributes, 'ce-time': '0001-01-01T00:00:00Z' }).time).toEqual(
      new Date('0001-01-01T00:00:00Z'),
    );
  });

  it('rejects a message without an id', () => {
    const attributes: Record<string, string> = { ...good.attributes };
    delete attributes['ce-id'];
    expect(() => parseChangeMessage(good.data, attributes)).toThrow(/ce-id/);
  });

  it('rejects an update without a record', () => {
    expect(() => parseChangeMessage(Buffer.alloc(0), good.attributes)).toThrow(/updated event needs a JSON object/);
  });

  it('rejects data that is not JSON', () => {
    expect(() => parseChangeMessage(Buffer.from('{not json'), good.attributes)).toThrow(/invalid|not a CloudEvent/);
  });

  it('decodes JSON data by its content type, and refuses a record whose content type says it is not JSON', () => {
    const charset = { ...good.attributes, 'content-type': 'application/json; charset=utf-8' };
    expect(parseChangeMessage(good.data, charset).record).toEqual(
      parseChangeMessage(good.data, good.attributes).record,
    );
    expect(() => parseChangeMessage(good.data, { ...good.attributes, 'content-type': 'text/plain' })).toThrow(
      /needs a JSON object/,
    );
  });

  it('rejects structured data that is not a CloudEvent', () => {
    expect(() => parseChangeMessage(Buffer.from('{"hello":"world"}'), {})).toThrow(
      /invalid change event|not a CloudEvent/,
    );
  });
});
