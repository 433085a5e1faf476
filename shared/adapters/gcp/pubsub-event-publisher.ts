import type { BatchPublishOptions, PubSub, Topic } from '@google-cloud/pubsub';
import { DEFAULTS } from '../../config/defaults';
import { AppError, ValidationError, errorMessage, isRetryable, type ValidationIssue } from '../../errors';
import { createLogger, type Logger } from '../../log';
import type { EventPublisher, OutboundMessage, PublishOutcome } from '../../ports/event-publisher';
import { toPubSubError } from './pubsub-errors';

/** How many messages, and how many bytes of them, may wait for their publish acknowledgement at once. */
export interface PublishFlowControl {
  readonly maxOutstandingMessages: number;
  readonly maxOutstandingBytes: number;
}

export interface PubSubPublisherOptions {
  /** Overrides PUBSUB_PUBLISH_DEFAULTS.batching, field by field. */
  readonly batching?: BatchPublishOptions;
  /** Overrides PUBSUB_PUBLISH_DEFAULTS.flowControl, field by field. */
  readonly flowControl?: Partial<PublishFlowControl>;
  readonly logger?: Logger;
}

/** The publisher's tunables; the reasons for each value are in DEFAULTS. */
export const PUBSUB_PUBLISH_DEFAULTS = {
  batching: {
    maxMessages: DEFAULTS.gcp.pubsub.publish.batchMaxMessages,
    maxBytes: DEFAULTS.gcp.pubsub.publish.batchMaxBytes,
    maxMilliseconds: DEFAULTS.gcp.pubsub.publish.batchMaxDelay.totalOf('millisecond'),
  },
  flowControl: {
    /**
     * The client's own publisher flow control only applies to `topic.flowControlled()`, which reports
     * no per-message outcome, so this adapter enforces it.
     */
    maxOutstandingMessages: DEFAULTS.gcp.pubsub.publish.maxOutstandingMessages,
    maxOutstandingBytes: DEFAULTS.gcp.pubsub.publish.maxOutstandingBytes,
  },
} as const;

/** The `code` of every error in a failed PublishOutcome. */
export const PublishErrorCode = {
  /** Pub/Sub could not be reached or was overloaded after the client's own retries; retryable. */
  unavailable: 'PUBLISH.UNAVAILABLE',
  /** The topic does not exist. */
  notFound: 'PUBLISH.NOT_FOUND',
  permissionDenied: 'PUBLISH.PERMISSION_DENIED',
  /** This message can never be published (over 10 MB, a bad attribute). */
  invalid: 'PUBLISH.INVALID',
  rejected: 'PUBLISH.REJECTED',
  /** An error without a gRPC status; counted as retryable. */
  failed: 'PUBLISH.FAILED',
  /**
   * Not sent because an earlier message of the same ordering key failed in the same call: Pub/Sub
   * would refuse it anyway, and sending it later than its predecessor would break the key's order.
   * Retryable when the first failure was (`cause` holds it).
   */
  orderingKeyPaused: 'PUBLISH.ORDERING_KEY_PAUSED',
  /** publish() after close(). */
  closed: 'PUBLISH.CLOSED',
} as const;
export type PublishErrorCode = (typeof PublishErrorCode)[keyof typeof PublishErrorCode];

/**
 * Publishes change events to a Pub/Sub topic with message ordering: each message keeps its data,
 * its `ce-*` attributes (CloudEvents binary content mode) and its ordering key.
 * https://cloud.google.com/pubsub/docs/ordering
 * https://github.com/cloudevents/spec/blob/main/cloudevents/bindings/google-cloud-pubsub-protocol-binding.md
 *
 * When a publish fails, the client pauses the message's ordering key and refuses every later
 * message of that key until `resumePublishing(key)` is called
 * (https://cloud.google.com/pubsub/docs/publisher#using-ordering-keys). Within one publish() call
 * the later messages of a failed key fail at once, without being sent. At the end of the call each
 * failed key is resumed, so the next cycle can publish it again: its snapshot was not committed,
 * so the next cycle re-emits the same events in order.
 *
 * Concurrent publish() calls are fine as long as they do not share ordering keys (the poller runs
 * one cycle per source at a time, and keys start with the source name).
 *
 * The Topic (and the PubSub client behind it) stays the caller's: close() flushes but closes neither.
 */
export class PubSubEventPublisher implements EventPublisher {
  private readonly flowControl: PublishFlowControl;
  private readonly outstanding: OutstandingLimit;
  private readonly log: Logger;
  private readonly inFlight = new Set<Promise<PublishOutcome[]>>();
  private closing: Promise<void> | undefined;

  /** Takes a ready Topic; its publish options are replaced by ordering plus `options.batching`. */
  constructor(
    private readonly topic: Topic,
    options: PubSubPublisherOptions = {},
  ) {
    const batching = { ...PUBSUB_PUBLISH_DEFAULTS.batching, ...options.batching };
    this.flowControl = { ...PUBSUB_PUBLISH_DEFAULTS.flowControl, ...options.flowControl };
    validateOptions(batching, this.flowControl);
    topic.setPublishOptions({ messageOrdering: true, batching });
    this.outstanding = new OutstandingLimit(this.flowControl);
    this.log = (options.logger ?? createLogger('pubsub')).child({ component: 'pubsub-event-publisher' });
  }

  /** A publisher for `topicName` (short name or `projects/<p>/topics/<t>`) on a ready client. */
  static forTopic(pubsub: PubSub, topicName: string, options: PubSubPublisherOptions = {}): PubSubEventPublisher {
    return new PubSubEventPublisher(pubsub.topic(topicName), options);
  }

  /** The full topic name, `projects/<project>/topics/<topic>`. */
  get topicName(): string {
    return this.topic.name;
  }

  publish(messages: readonly OutboundMessage[]): Promise<PublishOutcome[]> {
    if (messages.length === 0) return Promise.resolve([]);
    if (this.closing !== undefined) {
      const error = new AppError(PublishErrorCode.closed, 'the Pub/Sub publisher is closed');
      return Promise.resolve(messages.map((m) => failed(m, error)));
    }
    const run = this.publishAll(messages);
    this.inFlight.add(run);
    return run.finally(() => this.inFlight.delete(run));
  }

  /** Refuses new publishes, waits for those in flight, then sends whatever the client still buffers. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      await Promise.allSettled([...this.inFlight]);
      try {
        await this.topic.flush();
      } catch (e: unknown) {
        // Every message of ours has its outcome by now; this only concerns messages others put on the Topic.
        this.log.warn('flushing the Pub/Sub topic failed', { topic: this.topic.name, error: errorMessage(e) });
      }
    })();
    return this.closing;
  }

  private async publishAll(messages: readonly OutboundMessage[]): Promise<PublishOutcome[]> {
    const startedAt = Date.now();
    /** The first failure of each ordering key in this call. */
    const failedKeys = new Map<string, Error>();
    const pending: Promise<PublishOutcome>[] = [];
    for (const message of messages) {
      const bytes = messageBytes(message);
      await this.outstanding.acquire(bytes);
      const earlier = failedKeys.get(message.orderingKey);
      if (earlier !== undefined) {
        this.outstanding.release(bytes);
        pending.push(Promise.resolve(failed(message, pausedError(message.orderingKey, earlier))));
        continue;
      }
      pending.push(
        this.publishOne(message).then((outcome) => {
          // Recorded before the slot is freed, so the message waiting for it sees the failure.
          if (!outcome.ok && message.orderingKey !== '' && !failedKeys.has(message.orderingKey)) {
            failedKeys.set(message.orderingKey, outcome.error);
          }
          this.outstanding.release(bytes);
          return outcome;
        }),
      );
    }
    const outcomes = await Promise.all(pending);
    // Every message of these keys has settled, so nothing of this call is queued behind the pause.
    for (const key of failedKeys.keys()) this.topic.resumePublishing(key);
    this.logOutcomes(outcomes, failedKeys.size, Date.now() - startedAt);
    return outcomes;
  }

  private async publishOne(message: OutboundMessage): Promise<PublishOutcome> {
    try {
      const messageId = await this.topic.publishMessage({
        data: message.data,
        attributes: { ...message.attributes },
        ...(message.orderingKey === '' ? {} : { orderingKey: message.orderingKey }),
      });
      return { id: message.id, ok: true, messageId };
    } catch (e: unknown) {
      const error = toPubSubError('PUBLISH', `publishing to ${this.topic.name} failed`, e, {
        orderingKey: message.orderingKey,
      });
      return failed(message, error);
    }
  }

  private logOutcomes(outcomes: readonly PublishOutcome[], failedKeys: number, durationMs: number): void {
    const errors = outcomes.flatMap((o) => (o.ok ? [] : [o.error]));
    if (errors.length === 0) {
      this.log.debug('published', { topic: this.topic.name, messages: outcomes.length, durationMs });
      return;
    }
    const codes: Record<string, number> = {};
    for (const e of errors) {
      const code = e instanceof AppError ? e.code : 'UNKNOWN';
      codes[code] = (codes[code] ?? 0) + 1;
    }
    this.log.warn('some messages were not published; their ordering keys were resumed for the next cycle', {
      topic: this.topic.name,
      messages: outcomes.length,
      failed: errors.length,
      failedKeys,
      codes,
      firstError: errorMessage(errors[0]),
      durationMs,
    });
  }
}

/**
 * Counts messages handed to the client and not yet settled, and makes callers wait while the count
 * or their bytes are at the limit. A message bigger than the byte limit on its own still goes, once
 * nothing else is outstanding.
 */
class OutstandingLimit {
  private messages = 0;
  private bytes = 0;
  private waiters: (() => void)[] = [];

  constructor(private readonly limit: PublishFlowControl) {}

  async acquire(bytes: number): Promise<void> {
    while (
      this.messages > 0 &&
      (this.messages >= this.limit.maxOutstandingMessages || this.bytes + bytes > this.limit.maxOutstandingBytes)
    ) {
      await new Promise<void>((resolve) => this.waiters.push(resolve));
    }
    this.messages++;
    this.bytes += bytes;
  }

  release(bytes: number): void {
    this.messages--;
    this.bytes -= bytes;
    const waiters = this.waiters;
    this.waiters = [];
    for (const wake of waiters) wake();
  }
}

/** Roughly what the message weighs in a Publish request. */
function messageBytes(m: OutboundMessage): number {
  let bytes = m.data.length + Buffer.byteLength(m.orderingKey);
  for (const [name, value] of Object.entries(m.attributes)) bytes += Buffer.byteLength(name) + Buffer.byteLength(value);
  return bytes;
}

function failed(message: OutboundMessage, error: Error): PublishOutcome {
  return { id: message.id, ok: false, error };
}

function pausedError(orderingKey: string, first: Error): AppError {
  return new AppError(
    PublishErrorCode.orderingKeyPaused,
    `not sent: an earlier message of ordering key ${orderingKey} failed (${errorMessage(first)})`,
    { retryable: isRetryable(first), cause: first, details: { orderingKey } },
  );
}

function validateOptions(batching: BatchPublishOptions, flowControl: PublishFlowControl): void {
  const issues: ValidationIssue[] = [];
  const positiveInt = (path: string, value: number | undefined): void => {
    if (value === undefined || !Number.isInteger(value) || value < 1) {
      issues.push({ path, message: `expected an integer >= 1, got ${String(value)}` });
    }
  };
  positiveInt('batching.maxMessages', batching.maxMessages);
  positiveInt('batching.maxBytes', batching.maxBytes);
  const delay = batching.maxMilliseconds;
  if (delay === undefined || !Number.isFinite(delay) || delay < 0) {
    issues.push({ path: 'batching.maxMilliseconds', message: `expected a number >= 0, got ${String(delay)}` });
  }
  positiveInt('flowControl.maxOutstandingMessages', flowControl.maxOutstandingMessages);
  positiveInt('flowControl.maxOutstandingBytes', flowControl.maxOutstandingBytes);
  if (issues.length > 0) {
    throw new ValidationError(
      `invalid Pub/Sub publisher options: ${issues.map((i) => `${i.path}: ${i.message}`).join('; ')}`,
      issues,
    );
  }
}
