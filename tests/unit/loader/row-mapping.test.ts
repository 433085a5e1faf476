import {
  decodeChangeMessage,
  parsePushEnvelope,
  type ChangeEvent,
  type PushedMessage,
} from '@changefeed/shared/events';
import { toChangeRow } from '@changefeed/loader';
import { cartChange, pushBodyFor } from '../../support/loader-fakes';

const ingestedAt = new Date('2026-11-23T10:00:00.500Z');

function pushed(change: ChangeEvent, overrides: Partial<PushedMessage> = {}): PushedMessage {
  return { ...parsePushEnvelope(pushBodyFor(change, { messageId: 'm-1', deliveryAttempt: 3 })), ...overrides };
}

/** The row the loader makes of `change` as it arrives on the bus. */
function rowOf(change: ChangeEvent, overrides: Partial<PushedMessage> = {}): ReturnType<typeof toChangeRow> {
  const message = pushed(change, overrides);
  return toChangeRow(decodeChangeMessage(message.data, message.attributes), message, ingestedAt);
}

describe('toChangeRow', () => {
  it('fills every column from the event and the push envelope', () => {
    const change = cartChange(7);

    const row = rowOf(change);

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

    const row = rowOf(cartChange(1, { record }));

    expect(JSON.parse(row.data ?? 'null')).toEqual(record);
  });

  it('stores no data for a deletion', () => {
    const row = rowOf(cartChange(7, { type: 'deleted', version: 3 }));

    expect(row.event_type).toBe('deleted');
    expect(row.data).toBeNull();
  });

  it.each([
    ['absent (the emulator)', null],
    ['0 (no dead-letter policy)', 0],
  ])('leaves delivery_attempt null when the bus reports it %s', (_what, deliveryAttempt) => {
    const row = rowOf(cartChange(7), { deliveryAttempt });

    expect(row.delivery_attempt).toBeNull();
  });
});
