import { v1, type protos } from '@google-cloud/pubsub';
import { grpc } from 'google-gax';
import { DEFAULTS } from '../../config/defaults';
import { AppError, ValidationError, errorMessage, type ValidationIssue } from '../../errors';
import { createLogger, type Logger } from '../../log';
import type {
  DeadLetter,
  DeadLetterListing,
  DeadLetterQuery,
  DeadLetterQueue,
  RepublishOutcome,
} from '../../ports/dead-letter-queue';
import type { EventPublisher } from '../../ports/event-publisher';
import { checkedListLimit, republishThenRemove } from '../dead-letter-rules';
import { emulatorAuthClient } from './emulator-clients';
import { GrpcStatus, grpcStatusOf, toPubSubError } from './pubsub-errors';

type ReceivedMessage = protos.google.pubsub.v1.IReceivedMessage;
type PubsubMessage = protos.google.pubsub.v1.IPubsubMessage;
export type SubscriberClientOptions = NonNullable<ConstructorParameters<typeof v1.SubscriberClient>[0]>;

export interface PubSubDeadLetterQueueOptions {
  /**
   * The pull subscription on the dead-letter topic, as `projects/<project>/subscriptions/<name>`.
   * It must not enable message ordering: Pub/Sub then hands out one message per ordering key until
   * that one is acked, so list() would show only the first dead letter of each entity.
   */
  readonly subscription: string;
  /** See PUBSUB_DEAD_LETTER_DEFAULTS.pullTimeoutMs. */
  readonly pullTimeoutMs?: number;
  /** See PUBSUB_DEAD_LETTER_DEFAULTS.maxScanMessages. */
  readonly maxScanMessages?: number;
  readonly logger?: Logger;
}

export const PUBSUB_DEAD_LETTER_DEFAULTS = {
  /** Why these values: DEFAULTS.gcp.pubsub.deadLetterPullTimeout and deadLetterMaxScanMessages. */
  pullTimeoutMs: DEFAULTS.gcp.pubsub.deadLetterPullTimeout.totalOf('millisecond'),
  /** The API's maximum per Pull request. */
  maxMessagesPerPull: 1000,
  maxScanMessages: DEFAULTS.gcp.pubsub.deadLetterMaxScanMessages,
  /** Ack ids per Acknowledge / ModifyAckDeadline request, well under the 512 KB request limit. */
  maxAckIdsPerRequest: 1000,
} as const;

/**
 * Attributes Pub/Sub adds to a message it forwards to a dead-letter topic.
 * https://cloud.google.com/pubsub/docs/handling-failures#track-delivery-attempts
 */
export const DeadLetterAttribute = {
  /** How many deliveries the source subscription attempted. */
  deliveryCount: 'CloudPubSubDeadLetterSourceDeliveryCount',
  /** Every attribute Pub/Sub adds starts with this (source subscription, project, publish time). */
  prefix: 'CloudPubSubDeadLetterSource',
} as const;

/**
 * Client options for the low-level `v1.SubscriberClient`. The `PubSub` class switches to the
 * emulator by itself when PUBSUB_EMULATOR_HOST is set, but the generated v1 clients ignore that
 * variable (googleapis/nodejs-pubsub#869) and would call pubsub.googleapis.com with Google
 * credentials. So main passes the variable's value here, and for the emulator this returns its host
 * and port with plaintext credentials explicitly, and the emulator's auth client so that no
 * credential lookup (and no metadata-server probe) happens (see emulatorAuthClient).
 * Absent or '' means the real service.
 */
export function subscriberClientOptions(emulatorHost: string | undefined): SubscriberClientOptions {
  if (emulatorHost === undefined || emulatorHost === '') return {};
  const text = emulatorHost.replace(/^https?:\/\//, '').replace(/\/+$/, '');
  const match = /^(\[[^\]]+\]|[^:\s/[\]]+):(\d{1,5})$/.exec(text);
  const port = Number(match?.[2]);
  if (match?.[1] === undefined || !(port > 0 && port < 65536)) {
    throw new ValidationError(`invalid Pub/Sub emulator address ${JSON.stringify(emulatorHost)}: expected host:port`, [
      { path: 'PUBSUB_EMULATOR_HOST', message: 'expected host:port, e.g. 127.0.0.1:8085' },
    ]);
  }
  return { servicePath: match[1], port, sslCreds: grpc.credentials.createInsecure(), authClient: emulatorAuthClient() };
}

/** A `v1.SubscriberClient` for the real service, or for the emulator at `emulatorHost` (see subscriberClientOptions). */
export function createSubscriberClient(emulatorHost: string | undefined): v1.SubscriberClient {
  return new v1.SubscriberClient(subscriberClientOptions(emulatorHost));
}

/**
 * The dead letters of the loader's push subscription, read from a pull subscription on its
 * dead-letter topic with synchronous pull. https://cloud.google.com/pubsub/docs/handling-failures
 *
 * Pub/Sub has no "peek" and no way to ack a message by id, only by the ack id of a delivery, and an
 * ack id is worth nothing once its lease is given back: the emulator silently ignores an ack with
 * the ack id of a delivery that was released with ModifyAckDeadline 0, even before any redelivery.
 * So list() pulls, then gives every message back at once (so listing hides nothing), and a handle is
 * the message id, which stays the same across deliveries. acknowledge() finds the messages again by
 * reading the subscription and acks them with the ack ids of that read.
 *
 * What Pub/Sub does not record is null: when delivery first failed, and why it failed (a push
 * endpoint's answers are not kept). `lastFailureAt` is when Pub/Sub forwarded the message to the
 * dead-letter topic.
 *
 * The SubscriberClient stays the caller's: close() does not close it.
 */
export class PubSubDeadLetterQueue implements DeadLetterQueue {
  private readonly subscription: string;
  private readonly pullTimeoutMs: number;
  private readonly maxScanMessages: number;
  private readonly log: Logger;
  private closed = false;

  constructor(
    private readonly subscriber: v1.SubscriberClient,
    options: PubSubDeadLetterQueueOptions,
  ) {
    this.pullTimeoutMs = options.pullTimeoutMs ?? PUBSUB_DEAD_LETTER_DEFAULTS.pullTimeoutMs;
    this.maxScanMessages = options.maxScanMessages ?? PUBSUB_DEAD_LETTER_DEFAULTS.maxScanMessages;
    validateOptions(options.subscription, this.pullTimeoutMs, this.maxScanMessages);
    this.subscription = options.subscription;
    this.log = (options.logger ?? createLogger('pubsub')).child({
      module: 'pubsub-dead-letter-queue',
      subscription: options.subscription,
    });
  }

  /**
   * Dead letters, oldest first among those read. Every message read is held until the listing is
   * complete (so no message is counted twice) and then given back to the subscription. Without a
   * limit, reading stops after `maxScanMessages` messages (the listing then says it is incomplete).
   */
  async list(query: DeadLetterQuery = {}): Promise<DeadLetterListing> {
    this.ensureOpen();
    const limit = checkedListLimit(query.limit);
    if (limit === 0) return { letters: [], skipped: 0, complete: false };
    const where = query.where;
    const listing = await this.withPulls(async (session) => {
      const letters: DeadLetter[] = [];
      let skipped = 0;
      for (;;) {
        if (letters.length >= limit || session.seen >= this.maxScanMessages) {
          return { letters, skipped, complete: false };
        }
        // With a filter, how many of a pull count is unknown: pull as many as one request takes.
        const wanted = where === undefined ? limit - letters.length : Number.POSITIVE_INFINITY;
        const fresh = await session.pull(
          Math.min(PUBSUB_DEAD_LETTER_DEFAULTS.maxMessagesPerPull, wanted, this.maxScanMessages - session.seen),
        );
        if (fresh.length === 0) return { letters, skipped, complete: true };
        for (const { letter } of fresh) {
          if (letters.length >= limit) break;
          if (where === undefined || where(letter)) letters.push(letter);
          else skipped++;
        }
      }
    });
    return { ...listing, letters: listing.letters.sort(oldestFirst) };
  }

  /**
   * Removes the dead letters with these handles. Unknown handles are ignored. A handle not met
   * within `maxScanMessages` read messages (a very long backlog) stays a dead letter.
   */
  async acknowledge(handles: readonly string[]): Promise<void> {
    await this.remove(handles);
  }

  /**
   * Publishes dead letters (as list() returned them) to `to`, the publisher of the main topic, with
   * their data, attributes (without the ones Pub/Sub added when dead-lettering) and ordering key,
   * then removes from the dead letters exactly those whose publish Pub/Sub acknowledged (see
   * republishThenRemove). A letter whose publish failed stays, with the error in its outcome.
   */
  async republish(letters: readonly DeadLetter[], to: EventPublisher): Promise<RepublishOutcome[]> {
    this.ensureOpen();
    return await republishThenRemove(letters, to, (handles) => this.remove(handles), this.log);
  }

  /** Marks the queue closed; the SubscriberClient is the caller's to close. */
  close(): Promise<void> {
    this.closed = true;
    return Promise.resolve();
  }

  /** Acks the messages whose message id is in `handles`; returns the handles it found and acked. */
  private async remove(handles: readonly string[]): Promise<Set<string>> {
    this.ensureOpen();
    const wanted = new Set(handles.filter((h) => h !== ''));
    const removed = new Set<string>();
    if (wanted.size === 0) return removed;
    await this.withPulls(async (session) => {
      while (wanted.size > 0 && session.seen < this.maxScanMessages) {
        const fresh = await session.pull(
          Math.min(PUBSUB_DEAD_LETTER_DEFAULTS.maxMessagesPerPull, this.maxScanMessages - session.seen),
        );
        if (fresh.length === 0) break;
        const matches = fresh.filter((r) => wanted.has(r.letter.handle));
        await session.acknowledge(matches.map((r) => r.ackId));
        for (const r of matches) {
          wanted.delete(r.letter.handle);
          removed.add(r.letter.handle);
        }
      }
    });
    this.log.info('dead letters acknowledged', {
      acknowledged: removed.size,
      notFound: wanted.size,
    });
    return removed;
  }

  /** Runs `work` with a pull session and gives back every message it still holds, whatever happens. */
  private async withPulls<T>(work: (session: PullSession) => Promise<T>): Promise<T> {
    const session = new PullSession(this.subscriber, this.subscription, this.pullTimeoutMs);
    try {
      return await work(session);
    } finally {
      try {
        await session.releaseHeld();
      } catch (e: unknown) {
        // They come back by themselves once the subscription's ack deadline passes.
        this.log.warn('dead letters could not be given back; they return after the ack deadline', {
          error: errorMessage(e),
        });
      }
    }
  }

  private ensureOpen(): void {
    if (this.closed) throw new AppError('DEAD_LETTER.CLOSED', 'the Pub/Sub dead-letter queue is closed');
  }
}

interface Received {
  readonly ackId: string;
  readonly letter: DeadLetter;
}

/**
 * One reading of the subscription: holds the lease of every message it pulled until acked or given
 * back, and hands out each message id once (a held message whose lease ran out may come again).
 */
class PullSession {
  /** Messages pulled so far, repeats included. */
  seen = 0;
  private readonly held = new Set<string>();
  private readonly messageIds = new Set<string>();

  constructor(
    private readonly subscriber: v1.SubscriberClient,
    private readonly subscription: string,
    private readonly timeoutMs: number,
  ) {}

  /** The messages of one Pull not handed out before; [] when the subscription has nothing more. */
  async pull(maxMessages: number): Promise<Received[]> {
    let received: ReceivedMessage[];
    try {
      const [response] = await this.subscriber.pull(
        { subscription: this.subscription, maxMessages },
        { timeout: this.timeoutMs },
      );
      received = response.receivedMessages ?? [];
    } catch (e: unknown) {
      // The service may answer an empty wait with DEADLINE_EXCEEDED instead of an empty response.
      if (grpcStatusOf(e) === GrpcStatus.DEADLINE_EXCEEDED) return [];
      throw deadLetterError(`pulling from ${this.subscription} failed`, e);
    }
    const fresh: Received[] = [];
    for (const r of received) {
      if (typeof r.ackId !== 'string' || r.ackId === '') continue;
      this.seen++;
      this.held.add(r.ackId);
      const letter = r.message === null || r.message === undefined ? undefined : toDeadLetter(r.message);
      if (letter === undefined || this.messageIds.has(letter.messageId)) continue;
      this.messageIds.add(letter.messageId);
      fresh.push({ ackId: r.ackId, letter });
    }
    return fresh;
  }

  async acknowledge(ackIds: readonly string[]): Promise<void> {
    for (const chunk of chunks(ackIds)) {
      try {
        await this.subscriber.acknowledge({ subscription: this.subscription, ackIds: chunk });
      } catch (e: unknown) {
        throw deadLetterError(`acknowledging dead letters on ${this.subscription} failed`, e);
      }
      for (const id of chunk) this.held.delete(id);
    }
  }

  /** ModifyAckDeadline 0: the messages are deliverable again at once. */
  async releaseHeld(): Promise<void> {
    const ackIds = [...this.held];
    for (const chunk of chunks(ackIds)) {
      await this.subscriber.modifyAckDeadline({
        subscription: this.subscription,
        ackIds: chunk,
        ackDeadlineSeconds: 0,
      });
      for (const id of chunk) this.held.delete(id);
    }
  }
}

function toDeadLetter(m: PubsubMessage): DeadLetter | undefined {
  const messageId = m.messageId ?? '';
  if (messageId === '') return undefined;
  const all = m.attributes ?? {};
  const count = Number(all[DeadLetterAttribute.deliveryCount]);
  const forwardedAt = timestampToDate(m.publishTime);
  return {
    handle: messageId,
    messageId,
    orderingKey: m.orderingKey === undefined || m.orderingKey === null || m.orderingKey === '' ? null : m.orderingKey,
    data: typeof m.data === 'string' ? Buffer.from(m.data, 'base64') : Buffer.from(m.data ?? new Uint8Array()),
    attributes: withoutDeadLetterAttributes(all),
    // Only Pub/Sub's forwarding says how often delivery was tried; a message put on the topic by
    // hand has no count.
    deliveryAttempts: Number.isInteger(count) && count > 0 ? count : 0,
    firstFailureAt: null,
    lastFailureAt: forwardedAt,
    lastError: null,
  };
}

function withoutDeadLetterAttributes(attributes: Readonly<Record<string, string>>): Record<string, string> {
  const kept: Record<string, string> = {};
  for (const [name, value] of Object.entries(attributes)) {
    if (!name.startsWith(DeadLetterAttribute.prefix)) kept[name] = value;
  }
  return kept;
}

function timestampToDate(ts: protos.google.protobuf.ITimestamp | null | undefined): Date | null {
  if (ts === null || ts === undefined) return null;
  // `seconds` arrives as a Long, a string or a number depending on the decoder.
  const seconds = Number(String(ts.seconds ?? 0));
  const ms = seconds * 1000 + Math.floor((ts.nanos ?? 0) / 1e6);
  return Number.isFinite(ms) ? new Date(ms) : null;
}

function oldestFirst(a: DeadLetter, b: DeadLetter): number {
  const byTime = (a.lastFailureAt?.getTime() ?? 0) - (b.lastFailureAt?.getTime() ?? 0);
  if (byTime !== 0) return byTime;
  return a.messageId.localeCompare(b.messageId, 'en', { numeric: true });
}

function* chunks<T>(items: readonly T[]): Generator<T[]> {
  for (let i = 0; i < items.length; i += PUBSUB_DEAD_LETTER_DEFAULTS.maxAckIdsPerRequest) {
    yield items.slice(i, i + PUBSUB_DEAD_LETTER_DEFAULTS.maxAckIdsPerRequest);
  }
}

function deadLetterError(what: string, e: unknown): AppError {
  return toPubSubError('DEAD_LETTER', what, e);
}

function validateOptions(subscription: string, pullTimeoutMs: number, maxScanMessages: number): void {
  const issues: ValidationIssue[] = [];
  if (!/^projects\/[^/]+\/subscriptions\/[^/]+$/.test(subscription)) {
    issues.push({ path: 'subscription', message: 'expected projects/<project>/subscriptions/<name>' });
  }
  if (!(Number.isFinite(pullTimeoutMs) && pullTimeoutMs > 0)) {
    issues.push({ path: 'pullTimeoutMs', message: `expected a number > 0, got ${pullTimeoutMs}` });
  }
  if (!(Number.isInteger(maxScanMessages) && maxScanMessages > 0)) {
    issues.push({ path: 'maxScanMessages', message: `expected an integer >= 1, got ${maxScanMessages}` });
  }
  if (issues.length > 0) {
    throw new ValidationError(
      `invalid Pub/Sub dead-letter queue options: ${issues.map((i) => `${i.path}: ${i.message}`).join('; ')}`,
      issues,
    );
  }
}
