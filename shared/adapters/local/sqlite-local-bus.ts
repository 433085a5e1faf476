import { DEFAULTS } from '../../config/defaults';
import { AppError, errorMessage } from '../../errors';
import { buildPushEnvelope, type PushedMessage } from '../../events/push-envelope';
import { createLogger, type Logger } from '../../log';
import { systemClock, type Clock } from '../../ports/clock';
import type {
  DeadLetter,
  DeadLetterListing,
  DeadLetterQuery,
  DeadLetterQueue,
  RepublishOutcome,
} from '../../ports/dead-letter-queue';
import type { EventPublisher, OutboundMessage, PublishOutcome } from '../../ports/event-publisher';
import { backoffDelayMs } from '../../source/retry-policy';
import { HttpPushClient, type PushResult } from './http-push-client';
import { validateOptions } from './local-bus-options';
import { LocalBusStore, type ClaimedMessage, type Settlement } from './local-bus-store';
import { SqliteLocalBusClient } from './sqlite-local-bus-client';

/** The outcome of one message of a consumed batch: `ok` acks it, anything else is a failed delivery. */
export type ConsumeResult = { readonly ok: true } | { readonly ok: false; readonly error: string };

/**
 * Takes a batch of messages in-process and answers one result per message, in order. A rejection
 * fails every message of the batch.
 */
export type BatchConsumer = (messages: readonly PushedMessage[]) => Promise<readonly ConsumeResult[]>;

/** In-process batched delivery instead of one HTTP push per message. */
export interface BatchDelivery {
  readonly consume: BatchConsumer;
  /** At most this many messages per batch (one per ordering key); one batch is in flight at a time. */
  readonly batchSize: number;
}

/** How the local bus stores, delivers and gives up; see DEFAULTS.bus for the usual values. */
export interface LocalBusOptions {
  /** SQLite file of the queue and the dead letters; ':memory:' for a bus that dies with the process. */
  readonly file: string;
  /**
   * Where every message is POSTed, e.g. `http://127.0.0.1:8081/pubsub/push` (what Pub/Sub push
   * does). Ignored with `batches`.
   */
  readonly pushEndpoint: string;
  /**
   * The `Authorization` header of every push (`Bearer <secret>`), what an authenticated Pub/Sub
   * push subscription sends as its OIDC token. Absent: none is sent.
   */
  readonly pushAuthorization?: string;
  /** Deliver batches to an in-process consumer instead (what a pull subscriber does). */
  readonly batches?: BatchDelivery;
  /** Put in every envelope, e.g. `projects/local/subscriptions/changefeed-loader`. */
  readonly subscription: string;
  /** Failed deliveries of one message before it moves to the dead letters. */
  readonly maxDeliveryAttempts: number;
  /** Wait between attempts of one message: exponential from min to max, with jitter. */
  readonly minBackoffMs: number;
  readonly maxBackoffMs: number;
  /** Push requests in flight at once, across ordering keys. */
  readonly concurrency: number;
  /** A push with no answer after this long counts as failed (and is aborted). */
  readonly ackDeadlineMs: number;
  /** How often the dispatcher looks for due messages when nothing woke it; DEFAULTS.bus.idlePoll. */
  readonly idlePollMs?: number;
  readonly clock?: Clock;
  readonly logger?: Logger;
  /** [0, 1) like Math.random; drives the backoff jitter. */
  readonly random?: () => number;
}

/** A cheap snapshot of the bus for progress lines. */
export interface BusStats {
  /** Waiting for delivery: due, backing off, or queued behind their ordering key. Excludes in flight. */
  readonly pending: number;
  /** Push requests sent and not yet answered (or not yet recorded). */
  readonly inFlight: number;
  /** Acked by the endpoint, over the life of the bus file. */
  readonly delivered: number;
  /** In the dead letters now (acknowledged or republished ones no longer count). */
  readonly deadLettered: number;
  /** When the message longest in the queue (in flight included) entered it; null when empty. */
  readonly oldestPendingAt: Date | null;
}

interface IdleWaiter {
  readonly resolve: () => void;
  readonly reject: (e: Error) => void;
}

/**
 * The embedded stand-in for a Pub/Sub topic with one push subscription, message ordering and a
 * dead-letter policy, durable in SQLite so that nothing `publish()` acknowledged is lost to a crash.
 *
 * - Each message is POSTed as a Pub/Sub push envelope; 2xx acks, anything else (status, connection
 *   error, no answer within `ackDeadlineMs`) is retried with exponential backoff, and after
 *   `maxDeliveryAttempts` failures the message becomes a dead letter.
 *   https://cloud.google.com/pubsub/docs/push, https://cloud.google.com/pubsub/docs/handling-failures
 * - Per ordering key one message at a time, in publish order; the next goes once the previous was
 *   acked or dead-lettered. https://cloud.google.com/pubsub/docs/ordering
 * - At-least-once: a delivery in flight when the process died is made again on the next start.
 */
export class SqliteLocalBus implements EventPublisher, DeadLetterQueue {
  private readonly idlePollMs: number;
  private readonly clock: Clock;
  private readonly logger: Logger;
  private readonly random: () => number;
  /** Deliveries started and not yet recorded, by queue position. */
  private readonly inFlight = new Map<number, Promise<void>>();
  /** Delivery outcomes waiting to be written in the next transaction. */
  private settled: Settlement[] = [];
  private readonly idleWaiters = new Set<IdleWaiter>();
  private running = false;
  private closed = false;
  private pumpQueued = false;
  private wakeTimer: NodeJS.Timeout | undefined;
  /** Publishing and the dead letters go through this; delivery is this class's own. */
  private readonly client: SqliteLocalBusClient;

  private constructor(
    private readonly options: LocalBusOptions,
    private readonly store: LocalBusStore,
    private readonly pusher: HttpPushClient | undefined,
  ) {
    this.idlePollMs = options.idlePollMs ?? DEFAULTS.bus.idlePoll.totalOf('millisecond');
    this.clock = options.clock ?? systemClock;
    this.logger = options.logger ?? createLogger('local-bus');
    this.random = options.random ?? Math.random;
    this.client = new SqliteLocalBusClient(store, { clock: this.clock, logger: this.logger });
  }

  /** Opens (or creates) the bus file. Throws ValidationError for unusable options. */
  static open(options: LocalBusOptions): SqliteLocalBus {
    validateOptions(options);
    const store = LocalBusStore.open(options.file);
    const pusher =
      options.batches === undefined
        ? new HttpPushClient(options.pushEndpoint, {
            maxSockets: options.concurrency,
            ackDeadlineMs: options.ackDeadlineMs,
            ...(options.pushAuthorization === undefined ? {} : { authorization: options.pushAuthorization }),
          })
        : undefined;
    return new SqliteLocalBus(options, store, pusher);
  }

  /**
   * Appends the messages in one transaction; once this resolves they survive a crash. Either all
   * outcomes are ok (each with its message id) or all failed with the same error.
   */
  async publish(messages: readonly OutboundMessage[]): Promise<PublishOutcome[]> {
    const outcomes = await this.client.publish(messages);
    if (outcomes.some((o) => o.ok)) this.schedulePump();
    return outcomes;
  }

  /**
   * Starts delivering. Messages a previous process had in flight when it died are ready again (in
   * flight is only known in memory), so they are delivered again: at-least-once, like Pub/Sub.
   */
  start(): void {
    if (this.closed) throw closedError();
    if (this.running) return;
    this.running = true;
    this.schedulePump();
  }

  /** Stops starting deliveries and resolves once those in flight have settled and been recorded. */
  async stop(): Promise<void> {
    this.running = false;
    clearTimeout(this.wakeTimer);
    this.wakeTimer = undefined;
    while (this.inFlight.size > 0) {
      await Promise.all(this.inFlight.values());
      this.recordSettled();
    }
  }

  stats(): BusStats {
    const counts = this.store.counts();
    const oldest = this.store.oldestEnqueuedAt();
    return {
      pending: Math.max(0, counts.queued - this.inFlight.size),
      inFlight: this.inFlight.size,
      delivered: counts.delivered,
      deadLettered: counts.deadLettered,
      oldestPendingAt: oldest === null ? null : new Date(oldest),
    };
  }

  /**
   * Resolves once nothing is pending or in flight (dead letters do not count), or rejects with the
   * signal's reason when it aborts first. Messages only drain while the bus is started.
   */
  waitUntilIdle(signal?: AbortSignal): Promise<void> {
    if (this.closed) return Promise.reject(closedError());
    if (signal?.aborted === true) return Promise.reject(abortReason(signal));
    if (this.isIdle()) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      const onAbort = (): void => {
        this.idleWaiters.delete(waiter);
        reject(abortReason(signal));
      };
      const waiter: IdleWaiter = {
        resolve: () => {
          signal?.removeEventListener('abort', onAbort);
          resolve();
        },
        reject: (e) => {
          signal?.removeEventListener('abort', onAbort);
          reject(e);
        },
      };
      this.idleWaiters.add(waiter);
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  list(query?: DeadLetterQuery): Promise<DeadLetterListing> {
    return this.client.list(query);
  }

  acknowledge(handles: readonly string[]): Promise<void> {
    return this.client.acknowledge(handles);
  }

  /** See SqliteLocalBusClient.republish; `to` is usually this bus, which then delivers them again. */
  republish(letters: readonly DeadLetter[], to: EventPublisher): Promise<RepublishOutcome[]> {
    return this.client.republish(letters, to);
  }

  /** Stops (see stop()) and closes the file and connections. Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    await this.stop();
    this.closed = true;
    this.pusher?.close();
    await this.client.close();
    for (const waiter of this.idleWaiters) waiter.reject(closedError());
    this.idleWaiters.clear();
  }

  /** Coalesces every wake-up (publish, settled delivery, timer) arriving in one turn into one pump. */
  private schedulePump(): void {
    if (this.pumpQueued || this.closed) return;
    this.pumpQueued = true;
    setImmediate(() => {
      this.pumpQueued = false;
      this.pump();
    });
  }

  /** Records outcomes, starts what is due up to the concurrency, then sleeps until there is more to do. */
  private pump(): void {
    if (this.closed) return;
    if (!this.running) {
      this.recordSettled();
      this.notifyIfIdle();
      return;
    }
    clearTimeout(this.wakeTimer);
    this.wakeTimer = undefined;
    const now = this.clock.now().getTime();
    const batches = this.options.batches;
    if (batches === undefined) {
      for (const message of this.recordSettled(now, this.options.concurrency)) this.startDelivery(message);
    } else {
      // One batch at a time: the next one is claimed as the last one's outcomes are recorded
      // (every message in flight then has its outcome in `settled`).
      const idle = this.inFlight.size === this.settled.length;
      const claimed = this.recordSettled(now, idle ? batches.batchSize : 0);
      if (claimed.length > 0) this.startBatch(claimed, batches.consume);
    }
    const slots = batches === undefined ? this.options.concurrency : 1;
    const busy = batches === undefined ? this.inFlight.size : Math.min(1, this.inFlight.size);
    // With every slot busy, the next settled delivery wakes the pump; otherwise nothing else is
    // due yet, so sleep until the next retry (or the idle poll, which also picks up messages
    // another process put in the file).
    if (busy < slots) {
      const nextReadyAt = this.store.nextReadyAfter(now);
      const delay = nextReadyAt === null ? this.idlePollMs : Math.min(this.idlePollMs, nextReadyAt - now);
      this.wakeTimer = setTimeout(() => this.schedulePump(), Math.max(1, delay));
    }
    this.notifyIfIdle();
  }

  private startDelivery(message: ClaimedMessage): void {
    const delivery = this.deliver(message).then((settlement) => {
      this.settled.push(settlement);
      this.schedulePump();
    });
    this.inFlight.set(message.seq, delivery);
  }

  private startBatch(messages: readonly ClaimedMessage[], consume: BatchConsumer): void {
    const delivery = this.deliverBatch(messages, consume).then((settlements) => {
      this.settled.push(...settlements);
      this.schedulePump();
    });
    for (const message of messages) this.inFlight.set(message.seq, delivery);
  }

  private async deliverBatch(messages: readonly ClaimedMessage[], consume: BatchConsumer): Promise<Settlement[]> {
    let results: readonly ConsumeResult[];
    try {
      results = await consume(
        messages.map((m) => ({
          messageId: m.messageId,
          subscription: this.options.subscription,
          data: m.data,
          attributes: m.attributes,
          publishTime: m.publishTime,
          orderingKey: m.orderingKey === '' ? null : m.orderingKey,
          deliveryAttempt: m.attempts + 1,
        })),
      );
    } catch (e: unknown) {
      results = messages.map(() => ({ ok: false, error: errorMessage(e) }));
    }
    return messages.map((message, i) => {
      const result = results[i] ?? { ok: false, error: 'the consumer gave no result for this message' };
      return this.settlementOf(
        message,
        result.ok ? { ok: true, status: 200 } : { ok: false, status: null, error: result.error },
        'batch delivery failed',
      );
    });
  }

  private async deliver(message: ClaimedMessage): Promise<Settlement> {
    const pusher = this.pusher;
    if (pusher === undefined) throw new Error('deliver() without a push endpoint');
    let result: PushResult;
    try {
      const envelope = buildPushEnvelope({
        messageId: message.messageId,
        subscription: this.options.subscription,
        data: message.data,
        attributes: message.attributes,
        publishTime: message.publishTime,
        orderingKey: message.orderingKey === '' ? null : message.orderingKey,
        deliveryAttempt: message.attempts + 1,
      });
      result = await pusher.push(JSON.stringify(envelope));
    } catch (e: unknown) {
      result = { ok: false, status: null, error: errorMessage(e) };
    }
    return this.settlementOf(message, result, 'push delivery failed');
  }

  /** An ack, or a failed attempt: retried after a backoff, or dead-lettered after the last one. */
  private settlementOf(message: ClaimedMessage, result: PushResult, failure: string): Settlement {
    const attempt = message.attempts + 1;
    if (result.ok) return { kind: 'ack', message };

    const failedAt = this.clock.now().getTime();
    const ids = {
      messageId: message.messageId,
      orderingKey: message.orderingKey,
      deliveryAttempt: attempt,
      status: result.status,
      error: result.error,
    };
    if (attempt >= this.options.maxDeliveryAttempts) {
      this.logger.warn(failure, ids);
      this.logger.error('message dead-lettered after its last delivery attempt', {
        messageId: message.messageId,
        orderingKey: message.orderingKey,
        deliveryAttempts: attempt,
        lastError: result.error,
      });
      return { kind: 'dead-letter', message, error: result.error, failedAt };
    }
    const retryInMs = backoffDelayMs(attempt, this.options, this.random);
    this.logger.warn(failure, { ...ids, retryInMs });
    return { kind: 'retry', message, error: result.error, failedAt, retryAt: failedAt + retryInMs };
  }

  /**
   * Writes every outcome gathered since the last call and, when `claimAt` is given, takes the
   * messages due then for the slots that frees, in one transaction. Returns what was taken.
   */
  private recordSettled(claimAt?: number, slots = 0): ClaimedMessage[] {
    const batch = this.settled;
    this.settled = [];
    const stillInFlight = new Set(this.inFlight.keys());
    for (const s of batch) stillInFlight.delete(s.message.seq);
    const free = claimAt === undefined ? 0 : slots - stillInFlight.size;
    let claimed: ClaimedMessage[] = [];
    try {
      claimed = this.store.settleAndClaim(batch, claimAt ?? this.clock.now().getTime(), free, stillInFlight);
    } catch (e: unknown) {
      // The rows stay as they were, so they are delivered again: at-least-once.
      this.logger.error('local bus could not record delivery outcomes', {
        error: errorMessage(e),
        deliveries: batch.length,
      });
    }
    for (const s of batch) this.inFlight.delete(s.message.seq);
    return claimed;
  }

  private isIdle(): boolean {
    return this.inFlight.size === 0 && this.settled.length === 0 && this.store.counts().queued === 0;
  }

  private notifyIfIdle(): void {
    if (this.idleWaiters.size === 0 || !this.isIdle()) return;
    for (const waiter of this.idleWaiters) waiter.resolve();
    this.idleWaiters.clear();
  }
}

function closedError(): AppError {
  return new AppError('BUS.CLOSED', 'the local bus is closed');
}

function abortReason(signal: AbortSignal | undefined): Error {
  const reason: unknown = signal?.reason;
  return reason instanceof Error ? reason : new Error('aborted');
}
