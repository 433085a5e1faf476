import { AckError, AckResponses, type AckResponse, type Message, type Subscription } from '@google-cloud/pubsub';
import { errorMessage } from '../../errors';
import type { PushedMessage } from '../../events/push-envelope';
import type { Logger } from '../../log';

/** One outcome per message of a batch, in order: `ok` acks it, anything else nacks it (redelivery). */
export type PullResult = { readonly ok: true } | { readonly ok: false; readonly error: string };

/** Loads a batch; a rejection nacks every message of it. */
export type PullBatchConsumer = (messages: readonly PushedMessage[]) => Promise<readonly PullResult[]>;

export interface PullConsumerOptions {
  /** A batch is loaded once it holds this many messages... */
  readonly batchMaxMessages: number;
  /** ...or this long after its first message arrived. */
  readonly batchMaxDelayMs: number;
  /**
   * The subscription has exactly-once delivery (`loader.pull.exactlyOnce`): acks and nacks go out
   * with `ackWithResponse()` / `nackWithResponse()`, and an ack counts only once Pub/Sub confirmed
   * it. On a subscription without the feature those resolve at once, as plain acks.
   */
  readonly exactlyOnce?: boolean;
  readonly logger: Logger;
}

export interface PullConsumerStats {
  readonly received: number;
  /** Acks sent; with exactly-once, acks Pub/Sub confirmed. */
  readonly acked: number;
  readonly nacked: number;
  /**
   * Exactly-once only: acks Pub/Sub refused for good (the ack id had expired, the subscription
   * went away, permission denied). Each such message is delivered again and loaded a second time.
   */
  readonly ackFailed: number;
  readonly buffered: number;
}

/**
 * The loader's pull delivery: messages from a Pub/Sub StreamingPull subscription (the official
 * client's `Subscription`, whose flow control bounds what is outstanding) gathered into batches
 * of up to `batchMaxMessages` or `batchMaxDelayMs`, each loaded in one call, then each message
 * acked only once the load said its row is durable, and nacked otherwise so that Pub/Sub
 * redelivers it (and, under the subscription's dead-letter policy, dead-letters it after its own
 * attempts). One batch loads at a time; messages arriving meanwhile form the next one. With
 * message ordering the client hands over a key's messages in order, and a nack makes Pub/Sub
 * redeliver that message and the key's later ones.
 *
 * With `exactlyOnce`, each ack waits for Pub/Sub's answer (without holding up the next batch) and
 * close() waits for every answer before it closes the stream. A refused ack is logged with the
 * message id and counted: Pub/Sub delivers that message again, and the warehouse gets its row a
 * second time under the same event id. "Only the latest acknowledgment ID can be used to
 * acknowledge the message. Any requests with a previous acknowledgment ID fail."
 * https://cloud.google.com/pubsub/docs/pull, https://cloud.google.com/pubsub/docs/ordering,
 * https://cloud.google.com/pubsub/docs/exactly-once-delivery
 */
export class PubSubPullConsumer {
  private buffer: Message[] = [];
  private stopped: Promise<void> | undefined;
  private timer: NodeJS.Timeout | undefined;
  private loading: Promise<void> | undefined;
  private closing = false;
  private readonly onMessage = (message: Message): void => this.receive(message);
  private readonly onError = (e: unknown): void => {
    this.options.logger.error('pull subscription error; the client retries the stream', { error: errorMessage(e) });
  };
  private received = 0;
  private acked = 0;
  private nacked = 0;
  private ackFailed = 0;
  /** Exactly-once: acks and nacks sent and not yet answered. */
  private readonly answers = new Set<Promise<void>>();

  constructor(
    private readonly subscription: Subscription,
    private readonly consume: PullBatchConsumer,
    private readonly options: PullConsumerOptions,
  ) {}

  /** Opens the stream: the client starts pulling as soon as a message listener is attached. */
  start(): void {
    this.subscription.on('error', this.onError);
    this.subscription.on('message', this.onMessage);
  }

  stats(): PullConsumerStats {
    return {
      received: this.received,
      acked: this.acked,
      nacked: this.nacked,
      ackFailed: this.ackFailed,
      buffered: this.buffer.length,
    };
  }

  /**
   * SIGTERM: stops taking messages (any still arriving are nacked, to be redelivered elsewhere),
   * loads and acks what was taken (with exactly-once, until Pub/Sub answered every ack), then
   * closes the stream, which flushes the acks.
   */
  /** Idempotent: the loader and the backend that opened this consumer both close it. */
  close(): Promise<void> {
    this.stopped ??= this.stop();
    return this.stopped;
  }

  private async stop(): Promise<void> {
    // The listener stays until the end: the client closes the stream, acks still unsent
    // included, as soon as its last message listener goes.
    this.closing = true;
    clearTimeout(this.timer);
    while (this.loading !== undefined || this.buffer.length > 0) {
      if (this.loading === undefined) this.flush();
      await this.loading;
    }
    // The client rejects answers still pending when it closes ("Subscriber closed"), so wait first.
    while (this.answers.size > 0) await Promise.all([...this.answers]);
    await this.subscription.close();
    this.subscription.removeListener('message', this.onMessage);
    this.subscription.removeListener('error', this.onError);
  }

  private receive(message: Message): void {
    this.received += 1;
    if (this.closing) {
      this.nack(message);
      return;
    }
    this.buffer.push(message);
    if (this.buffer.length >= this.options.batchMaxMessages) this.flush();
    else this.timer ??= setTimeout(() => this.flush(), this.options.batchMaxDelayMs);
  }

  /** Starts loading the buffer unless a load is under way (which flushes again when it ends). */
  private flush(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    if (this.loading !== undefined || this.buffer.length === 0) return;
    const batch = this.buffer.splice(0, this.options.batchMaxMessages);
    this.loading = this.load(batch).finally(() => {
      this.loading = undefined;
      if (this.buffer.length >= this.options.batchMaxMessages || (this.closing && this.buffer.length > 0)) {
        this.flush();
      } else if (this.buffer.length > 0) {
        this.timer ??= setTimeout(() => this.flush(), this.options.batchMaxDelayMs);
      }
    });
  }

  private ack(message: Message): void {
    if (this.options.exactlyOnce !== true) {
      message.ack();
      this.acked += 1;
      return;
    }
    this.awaitAnswer(message.ackWithResponse(), (outcome) => {
      if (outcome === AckResponses.Success) {
        this.acked += 1;
        return;
      }
      this.ackFailed += 1;
      this.options.logger.warn('Pub/Sub refused an ack; the message will be delivered and loaded again', {
        messageId: message.id,
        orderingKey: message.orderingKey,
        deliveryAttempt: message.deliveryAttempt,
        error: refusal(outcome),
      });
    });
  }

  /**
   * A refused nack changes nothing that matters: the message is delivered again either way, only
   * once its ack deadline has passed instead of now.
   */
  private nack(message: Message): void {
    this.nacked += 1;
    if (this.options.exactlyOnce !== true) {
      message.nack();
      return;
    }
    this.awaitAnswer(message.nackWithResponse(), (outcome) => {
      if (outcome === AckResponses.Success) return;
      this.options.logger.debug('Pub/Sub refused a nack; the message is delivered again after its ack deadline', {
        messageId: message.id,
        error: refusal(outcome),
      });
    });
  }

  /**
   * Tracks an exactly-once answer until it settles. Both ways are answers: the client resolves
   * with an AckResponses value (`INVALID` for a message it already gave up, e.g. on a stream that
   * closed) and rejects with an AckError for what Pub/Sub refused.
   */
  private awaitAnswer(answer: Promise<AckResponse>, settle: (outcome: unknown) => void): void {
    const tracked: Promise<void> = answer.then(settle, settle).finally(() => this.answers.delete(tracked));
    this.answers.add(tracked);
  }

  private async load(batch: readonly Message[]): Promise<void> {
    let results: readonly PullResult[];
    try {
      results = await this.consume(batch.map((m) => toPushedMessage(m, this.subscription.name)));
    } catch (e: unknown) {
      results = batch.map(() => ({ ok: false, error: errorMessage(e) }));
    }
    batch.forEach((message, i) => {
      if (results[i]?.ok === true) this.ack(message);
      else this.nack(message);
    });
    const failed = results.filter((r) => !r.ok).length;
    if (failed > 0) {
      this.options.logger.warn('messages not stored; nacked for redelivery', { messages: batch.length, failed });
    }
  }
}

/** A refused ack or nack: what Pub/Sub answered (an AckResponses value), or the error's message. */
function refusal(outcome: unknown): string {
  if (outcome instanceof AckError) return `${outcome.errorCode}: ${outcome.message}`;
  return typeof outcome === 'string' ? outcome : errorMessage(outcome);
}

/** A pulled message in the shape the loader's batch core takes (the push envelope's). */
function toPushedMessage(message: Message, subscription: string): PushedMessage {
  return {
    messageId: message.id,
    subscription,
    data: message.data,
    attributes: message.attributes,
    publishTime: new Date(message.publishTime.getTime()),
    orderingKey: message.orderingKey === undefined || message.orderingKey === '' ? null : message.orderingKey,
    // 0 when the subscription has no dead-letter policy: unknown, not a zeroth attempt.
    deliveryAttempt: message.deliveryAttempt > 0 ? message.deliveryAttempt : null,
  };
}
