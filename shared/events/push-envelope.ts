import { z } from 'zod';
import { ValidationError } from '../errors';
import { summarizeIssues, validationIssues } from '../errors/zod-issues';

/**
 * The body Pub/Sub POSTs to a push endpoint.
 * https://cloud.google.com/pubsub/docs/push#receive_push
 * The emulator leaves out `orderingKey` and `deliveryAttempt`; `deliveryAttempt` is also absent
 * without a dead-letter policy. Nothing downstream may depend on them being present.
 */
export interface PushEnvelope {
  readonly message: {
    /** Base64 of the message payload. */
    readonly data?: string;
    readonly attributes?: Readonly<Record<string, string>>;
    readonly messageId: string;
    /** RFC 3339 time the bus accepted the message. */
    readonly publishTime: string;
    readonly orderingKey?: string;
  };
  readonly subscription: string;
  readonly deliveryAttempt?: number;
}

const envelopeSchema = z.object({
  message: z.object({
    data: z.base64().optional(),
    attributes: z.record(z.string(), z.string()).optional(),
    messageId: z.string().min(1),
    // Pub/Sub also sends the snake_case twins (message_id, publish_time); the camelCase ones are canonical.
    publishTime: z.iso.datetime({ offset: true }),
    orderingKey: z.string().optional(),
  }),
  subscription: z.string().min(1),
  deliveryAttempt: z.number().int().nonnegative().optional(),
});

/** What the loader takes from a push envelope. */
export interface PushedMessage {
  readonly messageId: string;
  readonly subscription: string;
  readonly data: Buffer;
  readonly attributes: Readonly<Record<string, string>>;
  readonly publishTime: Date;
  readonly orderingKey: string | null;
  readonly deliveryAttempt: number | null;
}

export function parsePushEnvelope(body: unknown): PushedMessage {
  const result = envelopeSchema.safeParse(body);
  if (!result.success) {
    const issues = validationIssues(result.error);
    throw new ValidationError(`invalid push envelope: ${summarizeIssues(issues, 'body')}`, issues);
  }
  const { message, subscription, deliveryAttempt } = result.data;
  return {
    messageId: message.messageId,
    subscription,
    data: Buffer.from(message.data ?? '', 'base64'),
    attributes: message.attributes ?? {},
    publishTime: new Date(message.publishTime),
    orderingKey: message.orderingKey === undefined || message.orderingKey === '' ? null : message.orderingKey,
    deliveryAttempt: deliveryAttempt ?? null,
  };
}

export function buildPushEnvelope(m: {
  readonly messageId: string;
  readonly subscription: string;
  readonly data: Buffer;
  readonly attributes: Readonly<Record<string, string>>;
  readonly publishTime: Date;
  readonly orderingKey: string | null;
  readonly deliveryAttempt: number | null;
}): PushEnvelope {
  return {
    message: {
      data: m.data.toString('base64'),
      attributes: m.attributes,
      messageId: m.messageId,
      publishTime: m.publishTime.toISOString(),
      ...(m.orderingKey === null ? {} : { orderingKey: m.orderingKey }),
    },
    subscription: m.subscription,
    ...(m.deliveryAttempt === null ? {} : { deliveryAttempt: m.deliveryAttempt }),
  };
}
