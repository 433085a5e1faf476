import { CHANGES_TABLE, VALUE_RANGES, checkedValue, valueProblem, type Column } from '@changefeed/shared/warehouse';
import type { ChangeRow } from '@changefeed/shared/ports';
import { AppError } from '@changefeed/shared/errors';

function column(name: string): Column<ChangeRow> {
  const found = CHANGES_TABLE.columns.find((c) => c.name === name);
  if (found === undefined) throw new Error(`no column ${name}`);
  return found;
}

const row: ChangeRow = {
  event_id: 'e1',
  event_type: 'created',
  source: 'carts',
  entity_id: '1',
  version: 1,
  data: '{"id":1}',
  event_time: new Date('2026-11-23T10:00:00Z'),
  publish_time: new Date('2026-11-23T10:00:01Z'),
  ingested_at: new Date('2026-11-23T10:00:02Z'),
  delivery_attempt: 1,
  message_id: 'm1',
};

describe('valueProblem: what both warehouses store, defined once', () => {
  it.each([
    ['int64', Number.MAX_SAFE_INTEGER],
    ['int64', Number.MIN_SAFE_INTEGER],
    ['int32', 2 ** 31 - 1],
    ['int32', -(2 ** 31)],
    ['timestamp', VALUE_RANGES.timestamp.min],
    ['timestamp', VALUE_RANGES.timestamp.max],
    ['string', 'Malmö 🛒'],
    ['json', '{"a":"\\ud800"}'],
  ] as const)('accepts the edge %s %p', (type, value) => {
    expect(valueProblem(type, value)).toBeUndefined();
  });

  it.each([
    ['int64', 1e16, /an integer from/],
    ['int64', 1.5, /an integer/],
    ['int32', 2 ** 31, /a 32-bit integer/],
    ['timestamp', new Date('0000-12-31T23:59:59.999Z'), /a time from 0001-01-01T00:00:00.000Z/],
    ['timestamp', new Date('+010000-01-01T00:00:00Z'), /to 9999-12-31T23:59:59.999Z/],
    ['timestamp', new Date(Number.NaN), /a valid Date/],
    ['string', 'a\ud800b', /lone surrogate/],
    ['json', '{"a":"\udc00"}', /lone surrogate/],
  ] as const)('refuses %s %p', (type, value, expected) => {
    expect(valueProblem(type, value)).toMatch(expected);
  });
});

describe('checkedValue refuses with WAREHOUSE.INVALID_ROW what valueProblem refuses', () => {
  it.each([
    ['version', { version: Number('9999999999999999') }],
    ['event_time', { event_time: new Date('0000-06-01T00:00:00Z') }],
    ['entity_id', { entity_id: '\ud800' }],
  ] as const)('%s out of range names the row and the column', (name, override) => {
    const bad = { ...row, ...override };
    let error: unknown;
    try {
      checkedValue(column(name), bad, () => 'row 7');
    } catch (e: unknown) {
      error = e;
    }
    expect(error).toBeInstanceOf(AppError);
    expect(error).toMatchObject({ code: 'WAREHOUSE.INVALID_ROW', retryable: false });
    expect((error as AppError).message).toMatch(new RegExp(`^row 7: ${name} must be `));
  });

  it('passes a good value through unchanged', () => {
    expect(checkedValue(column('version'), row, () => 'row 0')).toBe(1);
    expect(checkedValue(column('data'), row, () => 'row 0')).toBe('{"id":1}');
  });
});
