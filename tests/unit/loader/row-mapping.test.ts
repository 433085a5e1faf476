import { parsePushEnvelope, type PushedMessage } from '@changefeed/shared/events';
import { toChangeRow } from '@changefeed/loader';
import { cartChange, pushBodyFor } from '../../support/loader-fakes';

const ingestedAt = new Date('2026-11-23T10:00:00.500Z');

function pushed(overrides: Partial<PushedMessage> = {}): PushedMessage {
  return { ...parsePushEnvelope(pushBodyFor(cartChange(7), { messageId: 'm-1', deliveryAttempt: 3 })), ...overrides };
}

describe('toChangeRow', () => {
  it('fills every column from the event and the push envelope', () => {
    const change = cartChange(7);

    const row = toChangeRow(change, pushed(), ingestedAt);

    expect(row).toEqual({
      event_id: change.id,
      event_type: 'updated',
      source: 'carts',
      entity_id: '7',
      version: 2,
      data: JSON.stringify(change.record),
      event_time: new Date('2026-11-23T09:59:58.000Z'),
      publish_time: new Date('2026-11-23T09:59:59.000Z'),
      ingested_at: ingestedAt,
      delivery_attempt: 3,
      message_id: 'm-1',
    });
  });

  it('keeps the record as JSON text that parses back to the same value', () => {
    const record = { id: 'x', nested: { list: [1, 'two', null, true] }, unicode: 'ü€😀' };

    const row = toChangeRow(cartChange(1, { record }), pushed(), ingestedAt);

    expect(JSON.parse(row.data ?? 'null')).toEqual(record);
  });

  it('stores no data for a deletion', () => {
    const row = toChangeRow(cartChange(7, { type: 'deleted', version: 3 }), pushed(), ingestedAt);

    expect(row.event_type).toBe('deleted');
    expect(row.data).toBeNull();
  });

  it.each([
    ['absent (the emulator)', null],
    ['0 (no dead-letter policy)', 0],
  ])('leaves delivery_attempt null when the bus reports it %s', (_what, deliveryAttempt) => {
    const row = toChangeRow(cartChange(7), pushed({ deliveryAttempt }), ingestedAt);

    expect(row.delivery_attempt).toBeNull();
  });
});
