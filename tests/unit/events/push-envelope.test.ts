import { buildPushEnvelope, parsePushEnvelope } from '@changefeed/shared/events';

const body = {
  message: {
    data: Buffer.from('{"id":1}').toString('base64'),
    attributes: { 'ce-id': 'abc', 'content-type': 'application/json' },
    messageId: '1234',
    message_id: '1234',
    publishTime: '2026-11-23T10:00:01.123Z',
    publish_time: '2026-11-23T10:00:01.123Z',
    orderingKey: 'carts/1',
  },
  subscription: 'projects/p/subscriptions/changes-push',
  deliveryAttempt: 2,
};

describe('parsePushEnvelope', () => {
  it('decodes the body Pub/Sub pushes', () => {
    const pushed = parsePushEnvelope(body);
    expect(pushed).toEqual({
      messageId: '1234',
      subscription: 'projects/p/subscriptions/changes-push',
      data: Buffer.from('{"id":1}'),
      attributes: { 'ce-id': 'abc', 'content-type': 'application/json' },
      publishTime: new Date('2026-11-23T10:00:01.123Z'),
      orderingKey: 'carts/1',
      deliveryAttempt: 2,
    });
  });

  it('does not need orderingKey, deliveryAttempt, attributes or data (the emulator omits some)', () => {
    const pushed = parsePushEnvelope({
      message: { messageId: '9', publishTime: '2026-11-23T10:00:01Z' },
      subscription: 's',
    });
    expect(pushed.orderingKey).toBeNull();
    expect(pushed.deliveryAttempt).toBeNull();
    expect(pushed.attributes).toEqual({});
    expect(pushed.data.length).toBe(0);
  });

  it.each([
    ['a body that is not an object', 'hello', /invalid push envelope: body/],
    ['a missing message', { subscription: 's' }, /message: /],
    [
      'a missing messageId',
      { message: { publishTime: '2026-11-23T10:00:01Z' }, subscription: 's' },
      /message\.messageId/,
    ],
    ['data that is not base64', { ...body, message: { ...body.message, data: '***' } }, /message\.data/],
    ['a bad publishTime', { ...body, message: { ...body.message, publishTime: 'now' } }, /message\.publishTime/],
    [
      'a non-string attribute',
      { ...body, message: { ...body.message, attributes: { a: 1 } } },
      /message\.attributes\.a/,
    ],
    ['a missing subscription', { message: body.message }, /subscription/],
  ])('rejects %s, naming the field', (_what, input, expected) => {
    expect(() => parsePushEnvelope(input)).toThrow(expected);
  });

  it('round-trips buildPushEnvelope', () => {
    const pushed = parsePushEnvelope(body);
    expect(parsePushEnvelope(JSON.parse(JSON.stringify(buildPushEnvelope(pushed))))).toEqual(pushed);
  });
});
