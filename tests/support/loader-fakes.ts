import {
  buildPushEnvelope,
  changeToMessage,
  eventId,
  type ChangeEvent,
  type PushEnvelope,
} from '@changefeed/shared/events';
import type { ChangeRow, Clock, RejectedRow, RowSink } from '@changefeed/shared/ports';
import { CHANGES_TABLE, checkedValue } from '@changefeed/shared/warehouse';

/** One call the sink received, whether it succeeded or not. */
export interface SinkCall<Row> {
  readonly table: string;
  readonly rows: readonly Row[];
  readonly error?: Error;
}

/**
 * A warehouse in memory. Rows become visible in `changes`/`rejected` only when their append
 * resolves, the way a durable append does. It can fail the next appends, or hold them until
 * released so a test can see what gathers meanwhile.
 */
export class FakeRowSink implements RowSink {
  /** Appended rows per table stem (`carts` for `carts_changes`). */
  readonly changes = new Map<string, ChangeRow[]>();
  readonly rejected: RejectedRow[] = [];
  readonly changeCalls: SinkCall<ChangeRow>[] = [];
  readonly rejectedCalls: SinkCall<RejectedRow>[] = [];
  /** Appends begun, including those still held or about to fail. */
  appendsStarted = 0;
  closed = false;
  private failures: { target: 'changes' | 'rejected'; remaining: number; error: Error }[] = [];
  private gate: Promise<void> | undefined;

  /** The next `count` appends to `target` reject with `error` and store nothing. */
  failNext(count: number, error: Error, target: 'changes' | 'rejected' = 'changes'): void {
    this.failures.push({ target, remaining: count, error });
  }

  /** Appends started from now on wait until the returned function is called. */
  hold(): () => void {
    let release!: () => void;
    this.gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    return () => {
      this.gate = undefined;
      release();
    };
  }

  /** Every row appended to `<table>_changes`, in order. */
  rowsOf(table: string): ChangeRow[] {
    return this.changes.get(table) ?? [];
  }

  async appendChanges(table: string, rows: readonly ChangeRow[]): Promise<void> {
    const copy = [...rows];
    this.appendsStarted++;
    if (this.gate !== undefined) await this.gate;
    const error = this.takeFailure('changes');
    this.changeCalls.push({ table, rows: copy, ...(error === undefined ? {} : { error }) });
    if (error !== undefined) throw error;
    // As the real warehouses do: a row that can never be stored refuses the whole call.
    copy.forEach((row, i) => {
      for (const column of CHANGES_TABLE.columns) checkedValue(column, row, () => `${table}_changes row ${i}`);
    });
    this.changes.set(table, [...this.rowsOf(table), ...copy]);
  }

  async appendRejected(rows: readonly RejectedRow[]): Promise<void> {
    const copy = [...rows];
    this.appendsStarted++;
    if (this.gate !== undefined) await this.gate;
    const error = this.takeFailure('rejected');
    this.rejectedCalls.push({ table: '_rejected', rows: copy, ...(error === undefined ? {} : { error }) });
    if (error !== undefined) throw error;
    this.rejected.push(...copy);
  }

  close(): Promise<void> {
    this.closed = true;
    return Promise.resolve();
  }

  private takeFailure(target: 'changes' | 'rejected'): Error | undefined {
    const failure = this.failures.find((f) => f.target === target && f.remaining > 0);
    if (failure === undefined) return undefined;
    failure.remaining--;
    return failure.error;
  }
}

/**
 * A clock whose sleeps wait until the test moves time past them with `advance`, so timer-driven
 * behaviour is asserted step by step with no real waiting.
 */
export class ManualClock implements Clock {
  private nowMs: number;
  private timers: { at: number; resolve: () => void }[] = [];

  constructor(start = '2026-11-23T10:00:00.000Z') {
    this.nowMs = Date.parse(start);
  }

  now(): Date {
    return new Date(this.nowMs);
  }

  /** Sleeps not yet due. */
  pendingSleeps(): number {
    return this.timers.length;
  }

  sleep(ms: number, signal?: AbortSignal): Promise<void> {
    if (signal?.aborted === true) return Promise.reject(new Error('aborted'));
    return new Promise<void>((resolve, reject) => {
      const timer = { at: this.nowMs + ms, resolve };
      this.timers.push(timer);
      signal?.addEventListener(
        'abort',
        () => {
          this.timers = this.timers.filter((t) => t !== timer);
          reject(new Error('aborted'));
        },
        { once: true },
      );
    });
  }

  advance(ms: number): void {
    this.nowMs += ms;
    const due = this.timers.filter((t) => t.at <= this.nowMs);
    this.timers = this.timers.filter((t) => t.at > this.nowMs);
    for (const t of due) t.resolve();
  }
}

/** Lets queued promise callbacks and I/O callbacks run: one turn of the event loop. */
export function nextTurn(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/**
 * Turns the event loop until `condition` holds. The deadline is only a safety net so that a broken
 * test fails instead of hanging; nothing is asserted about how long it took.
 */
export async function until(condition: () => boolean, what: string, giveUpAfterMs = 10_000): Promise<void> {
  const deadline = Date.now() + giveUpAfterMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`gave up waiting for ${what}`);
    await nextTurn();
  }
}

export const SUBSCRIPTION = 'projects/demo/subscriptions/changes-push';

/** A change event of the demo `carts` source; `n` varies the entity and the id. */
export function cartChange(n: number, overrides: Partial<ChangeEvent> = {}): ChangeEvent {
  const type = overrides.type ?? 'updated';
  const version = overrides.version ?? 2;
  return {
    id: eventId('carts', String(n), version, type, `h${n}`),
    type,
    source: 'carts',
    table: 'carts',
    entityId: String(n),
    version,
    time: new Date('2026-11-23T09:59:58.000Z'),
    record: type === 'deleted' ? null : { id: n, total: 10 + n, items: [{ sku: 'a', qty: 1 }] },
    ...overrides,
  };
}

/** The body Pub/Sub would push for `change`, published in binary content mode by the poller. */
export function pushBodyFor(
  change: ChangeEvent,
  options: { messageId?: string; deliveryAttempt?: number | null; orderingKey?: string | null } = {},
): PushEnvelope {
  const message = changeToMessage(change);
  return buildPushEnvelope({
    messageId: options.messageId ?? `m-${change.entityId}-${change.version}`,
    subscription: SUBSCRIPTION,
    data: message.data,
    attributes: message.attributes,
    publishTime: new Date('2026-11-23T09:59:59.000Z'),
    orderingKey: options.orderingKey === undefined ? message.orderingKey : options.orderingKey,
    deliveryAttempt: options.deliveryAttempt === undefined ? 1 : options.deliveryAttempt,
  });
}
