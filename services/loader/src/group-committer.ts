import { AppError } from '@changefeed/shared/errors';
import type { ChangeRow, Clock, RejectedRow, RowSink } from '@changefeed/shared/ports';
import { appendIsolating, type RowResult } from './isolating-append';

/** How rows are grouped; `loader.groupCommitMaxRows` and `loader.groupCommitMaxDelay` in the config. */
export interface GroupCommitterOptions {
  /** A group is appended as soon as it holds this many rows. */
  readonly maxRows: number;
  /** ...or this long after its first row arrived; 0 appends on the next turn of the event loop. */
  readonly maxDelayMs: number;
  /** Times the delay: tests pass a clock they move by hand. */
  readonly clock: Clock;
}

/** Thrown by `submit` once `close()` was called: another instance (or a later delivery) must take the row. */
export const COMMITTER_CLOSED = 'LOADER.CLOSING';

/**
 * Group commit in front of a RowSink: rows submitted by concurrent push requests are appended
 * together, and each submitter's promise settles only when the append holding its row did.
 *
 * Per table (and for `_rejected`) at most one append is in flight, because the sinks serialize
 * writes to one table anyway (DuckDB has one writer; a BigQuery write stream takes appends in
 * order): a second concurrent append would only queue inside the sink, while here the rows that
 * arrive meanwhile join one bigger group. So the busier the sink, the larger the groups, and the
 * extra latency is bounded by `maxDelayMs` plus the append in flight. Different tables are
 * appended concurrently.
 *
 * A failed append rejects every row of that group with the sink's error, so each request answers
 * 5xx and the bus redelivers it; the next group is tried independently. A row the warehouse
 * refuses for good is isolated (`appendIsolating`): only its submitter gets the error.
 */
export class GroupCommitter {
  private readonly changeLanes = new Map<string, Lane<ChangeRow>>();
  private readonly rejectedLane: Lane<RejectedRow>;
  private closed = false;

  constructor(
    private readonly sink: Pick<RowSink, 'appendChanges' | 'appendRejected'>,
    private readonly options: GroupCommitterOptions,
  ) {
    this.rejectedLane = new Lane(async (rows) => {
      try {
        await this.sink.appendRejected(rows);
        return rows.map(() => ({ ok: true }));
      } catch (e: unknown) {
        return rows.map(() => ({ ok: false, refused: false, error: e }));
      }
    }, options);
  }

  /**
   * Resolves once `row` was durably appended to `<table>_changes`; rejects with the sink's error.
   * A row the warehouse refuses for good (`WAREHOUSE.INVALID_ROW`, `WAREHOUSE.ROW_TOO_LARGE`) is
   * found by halving its group, and only its own submitter gets that error: its neighbours land.
   */
  submit(table: string, row: ChangeRow): Promise<void> {
    if (this.closed) return Promise.reject(closedError());
    let lane = this.changeLanes.get(table);
    if (lane === undefined) {
      lane = new Lane((rows) => appendIsolating(rows, (part) => this.sink.appendChanges(table, part)), this.options);
      this.changeLanes.set(table, lane);
    }
    return lane.add(row);
  }

  /** Resolves once `row` was durably appended to `_rejected`; grouped like `submit`. */
  submitRejected(row: RejectedRow): Promise<void> {
    if (this.closed) return Promise.reject(closedError());
    return this.rejectedLane.add(row);
  }

  /** Rows submitted and not yet settled (waiting for their group, or in an append). */
  pendingRows(): number {
    let n = this.rejectedLane.pendingRows();
    for (const lane of this.changeLanes.values()) n += lane.pendingRows();
    return n;
  }

  /**
   * Appends every group now, without waiting for its delay, and resolves once all rows submitted
   * before the call have settled. Never rejects: each row's outcome belongs to its submitter.
   */
  async flush(): Promise<void> {
    await Promise.all([this.rejectedLane.flush(), ...[...this.changeLanes.values()].map((lane) => lane.flush())]);
  }

  /** Stops taking rows (new submits reject as retryable), then flushes what was submitted. */
  async close(): Promise<void> {
    this.closed = true;
    await this.flush();
  }
}

function closedError(): AppError {
  return new AppError(COMMITTER_CLOSED, 'the loader is shutting down', { retryable: true });
}

/** One submitted row and how its submitter's promise settles. */
interface Entry<T> {
  readonly row: T;
  readonly resolve: () => void;
  readonly reject: (e: unknown) => void;
}

interface Group<T> {
  readonly rows: Entry<T>[];
  /** Becomes true when full, when its delay ran out, or on flush; only due groups are appended. */
  due: boolean;
  /** Cancels the delay once the group is due for another reason. */
  readonly delay: AbortController;
  /** Resolves once the group's append finished, whatever became of its rows; for flush(). */
  readonly settled: Promise<void>;
  readonly finish: () => void;
}

/**
 * The groups of one destination, oldest first. Only the newest group takes rows (unless full),
 * and only the oldest one is appended, once it is due and nothing else is in flight.
 */
class Lane<T> {
  private readonly queue: Group<T>[] = [];
  private inFlight: Group<T> | undefined;

  constructor(
    /** One result per row, in order; never rejects. */
    private readonly write: (rows: readonly T[]) => Promise<readonly RowResult[]>,
    private readonly options: GroupCommitterOptions,
  ) {}

  add(row: T): Promise<void> {
    let group = this.queue.at(-1);
    if (group === undefined || group.rows.length >= this.options.maxRows) group = this.open();
    const target = group;
    const done = new Promise<void>((resolve, reject) => target.rows.push({ row, resolve, reject }));
    if (target.rows.length >= this.options.maxRows) this.markDue(target);
    return done;
  }

  pendingRows(): number {
    return this.queue.reduce((n, g) => n + g.rows.length, this.inFlight?.rows.length ?? 0);
  }

  async flush(): Promise<void> {
    const groups = this.inFlight === undefined ? [...this.queue] : [this.inFlight, ...this.queue];
    for (const group of this.queue) group.due = true;
    for (const group of groups) group.delay.abort();
    this.pump();
    await Promise.all(groups.map((g) => g.settled));
  }

  private open(): Group<T> {
    let finish!: () => void;
    const settled = new Promise<void>((resolve) => {
      finish = resolve;
    });
    const group: Group<T> = { rows: [], due: false, delay: new AbortController(), settled, finish };
    this.queue.push(group);
    this.options.clock.sleep(this.options.maxDelayMs, group.delay.signal).then(
      () => this.markDue(group),
      // Aborted: the group became due some other way.
      () => undefined,
    );
    return group;
  }

  private markDue(group: Group<T>): void {
    if (group.due) return;
    group.due = true;
    group.delay.abort();
    this.pump();
  }

  private pump(): void {
    if (this.inFlight !== undefined) return;
    const head = this.queue[0];
    if (head === undefined || !head.due) return;
    this.queue.shift();
    this.inFlight = head;
    void this.append(head);
  }

  private async append(group: Group<T>): Promise<void> {
    try {
      const results = await this.write(group.rows.map((e) => e.row));
      group.rows.forEach((entry, i) => {
        const result = results[i];
        if (result?.ok === true) entry.resolve();
        else entry.reject(result === undefined ? new Error('the append gave no result for this row') : result.error);
      });
    } catch (e: unknown) {
      for (const entry of group.rows) entry.reject(e);
    } finally {
      group.finish();
      this.inFlight = undefined;
      this.pump();
    }
  }
}
