import Database from 'better-sqlite3';
import { AppError, errorMessage } from '../../errors';
import type { DeadLetter } from '../../ports/dead-letter-queue';
import type { OutboundMessage } from '../../ports/event-publisher';

/** Bumped when the tables below change shape; a file of another version is refused, not guessed at. */
const SCHEMA_VERSION = 1;

/*
 * `messages` holds everything published and not yet delivered or dead-lettered, in queue order
 * (`seq`). Ordering is kept by which rows are *ready*: `ready_at` is set only on a message that may
 * be delivered next (the oldest of its ordering key, or any message without one), so picking the
 * next deliveries is one range scan of `messages_ready` instead of a "head of every key" search.
 * Acking or dead-lettering a head makes the key's next row ready.
 *
 * Being in flight is not written down: the dispatcher skips the rows it has in flight, so a crash
 * leaves them simply ready, and they are delivered again (at-least-once, as in Pub/Sub) without
 * any recovery step, and without a write per delivery.
 *
 * `message_id` equals the `seq` a message got when it was published. A dead letter keeps its
 * message id; replaying it publishes it afresh (a new id, at the back of the queue), as Pub/Sub does.
 *
 * `counters` keeps the sizes that stats() reports, updated in the same transactions as the rows,
 * so they stay right even when another process (a `dlq replay`) writes to the same file.
 */
const SCHEMA = `
CREATE TABLE messages (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  message_id INTEGER NOT NULL,
  ordering_key TEXT NOT NULL,
  data BLOB NOT NULL,
  attributes TEXT NOT NULL,
  publish_time INTEGER NOT NULL,
  enqueued_at INTEGER NOT NULL,
  attempts INTEGER NOT NULL DEFAULT 0,
  ready_at INTEGER,
  first_failure_at INTEGER,
  last_failure_at INTEGER,
  last_error TEXT
);
CREATE INDEX messages_by_key ON messages (ordering_key, seq) WHERE ordering_key <> '';
CREATE INDEX messages_ready ON messages (ready_at, seq) WHERE ready_at IS NOT NULL;
CREATE TABLE dead_letters (
  handle INTEGER PRIMARY KEY AUTOINCREMENT,
  message_id INTEGER NOT NULL,
  ordering_key TEXT NOT NULL,
  data BLOB NOT NULL,
  attributes TEXT NOT NULL,
  publish_time INTEGER NOT NULL,
  attempts INTEGER NOT NULL,
  first_failure_at INTEGER,
  last_failure_at INTEGER,
  last_error TEXT,
  dead_lettered_at INTEGER NOT NULL
);
CREATE TABLE counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID;
INSERT INTO counters (name, value) VALUES ('queued', 0), ('delivered', 0), ('dead_lettered', 0);
`;

const INSERT_MESSAGES = `INSERT INTO messages
  (seq, message_id, ordering_key, data, attributes, publish_time, enqueued_at, ready_at)`;
/** Parameters per row of INSERT_MESSAGES. */
const COLUMNS = 8;
/** Rows per multi-row INSERT; 800 parameters stay far below SQLite's limit of 32,766. */
const ROWS_PER_INSERT = 100;
/** Keys per lookup of which keys already have messages. */
const KEYS_PER_LOOKUP = 500;

function placeholders(n: number): string {
  return Array.from({ length: n }, () => '?').join(', ');
}

function rowPlaceholders(rows: number): string {
  return Array.from({ length: rows }, () => `(${placeholders(COLUMNS)})`).join(', ');
}

const Counter = { queued: 'queued', delivered: 'delivered', deadLettered: 'dead_lettered' } as const;
type Counter = (typeof Counter)[keyof typeof Counter];

/** A message taken off the queue for one delivery attempt. */
export interface ClaimedMessage {
  readonly seq: number;
  readonly messageId: string;
  /** '' when the message has no ordering key. */
  readonly orderingKey: string;
  readonly data: Buffer;
  readonly attributes: Readonly<Record<string, string>>;
  readonly publishTime: Date;
  /** Failed deliveries so far; this attempt is number `attempts + 1`. */
  readonly attempts: number;
}

/** What became of one delivery attempt, as the store records it. */
export type Settlement =
  | { readonly kind: 'ack'; readonly message: ClaimedMessage }
  | {
      readonly kind: 'retry';
      readonly message: ClaimedMessage;
      readonly error: string;
      readonly failedAt: number;
      readonly retryAt: number;
    }
  | {
      readonly kind: 'dead-letter';
      readonly message: ClaimedMessage;
      readonly error: string;
      readonly failedAt: number;
    };

export interface StoreCounts {
  /** Rows in the queue, in flight included. */
  readonly queued: number;
  readonly delivered: number;
  readonly deadLettered: number;
}

interface MessageRow {
  seq: number;
  message_id: number;
  ordering_key: string;
  data: Buffer;
  attributes: string;
  publish_time: number;
  attempts: number;
}

interface DeadLetterRow {
  handle: number;
  message_id: number;
  ordering_key: string;
  data: Buffer;
  attributes: string;
  publish_time: number;
  attempts: number;
  first_failure_at: number | null;
  last_failure_at: number | null;
  last_error: string | null;
}

/**
 * The local bus's SQLite tables and every statement on them, each operation one transaction.
 * Synchronous (better-sqlite3): callers keep batches bounded so the event loop is never held long.
 */
export class LocalBusStore {
  private readonly statements;
  private readonly publishTx;
  private readonly settleAndClaimTx;
  private readonly acknowledgeTx;

  private constructor(private readonly db: Database.Database) {
    this.statements = {
      lastSeq: db.prepare<[], { seq: number }>(`SELECT seq FROM sqlite_sequence WHERE name = 'messages'`),
      // The keys are bound as parameters, not passed as one JSON array: binding is the same
      // conversion the INSERT uses, so a key with a lone surrogate matches its own rows.
      keysWithMessages: db
        .prepare<unknown[], string>(
          `SELECT DISTINCT ordering_key FROM messages
           WHERE ordering_key IN (${placeholders(KEYS_PER_LOOKUP)}) AND ordering_key <> ''`,
        )
        .pluck(),
      insert: db.prepare<unknown[]>(`${INSERT_MESSAGES} VALUES ${rowPlaceholders(1)}`),
      // Per-statement overhead (binding, stepping, sqlite_sequence upkeep) was about as large as
      // the row work itself, so full chunks of a publish go in as one multi-row INSERT.
      insertChunk: db.prepare<unknown[]>(`${INSERT_MESSAGES} VALUES ${rowPlaceholders(ROWS_PER_INSERT)}`),
      // Found through messages_ready, in due order; one statement for the rows, not one per row.
      dueRows: db.prepare<[number, number], MessageRow>(
        `SELECT seq, message_id, ordering_key, data, attributes, publish_time, attempts FROM messages
         WHERE ready_at IS NOT NULL AND ready_at <= ? ORDER BY ready_at, seq LIMIT ?`,
      ),
      nextReadyAfter: db
        .prepare<[number], number | null>(`SELECT MIN(ready_at) FROM messages WHERE ready_at > ?`)
        .pluck(),
      delete: db.prepare<[number]>(`DELETE FROM messages WHERE seq = ?`),
      // A batch's acks and promotions are one statement each, the seqs and keys passed as one
      // JSON array: per-row statements were most of the bus's cost at 10,000-message batches.
      deleteMany: db.prepare<[string]>(`DELETE FROM messages WHERE seq IN (SELECT value FROM json_each(?))`),
      // Only a row that waits behind its predecessor is promoted: when the acked head was already
      // gone (a duplicate delivery), the key's current head is ready already and left alone.
      promoteNextOfKeys: db.prepare<[number, string]>(
        `UPDATE messages SET ready_at = ? WHERE ready_at IS NULL AND seq IN (
           SELECT (SELECT seq FROM messages AS m WHERE m.ordering_key = k.value AND m.ordering_key <> '' ORDER BY seq LIMIT 1)
           FROM json_each(?) AS k
         )`,
      ),
      retryLater: db.prepare<[number, number, number, number, string, number]>(
        `UPDATE messages SET attempts = ?, ready_at = ?,
           first_failure_at = COALESCE(first_failure_at, ?), last_failure_at = ?, last_error = ?
         WHERE seq = ?`,
      ),
      moveToDeadLetters: db.prepare<[number, number, number, string, number, number]>(
        `INSERT INTO dead_letters (message_id, ordering_key, data, attributes, publish_time, attempts,
           first_failure_at, last_failure_at, last_error, dead_lettered_at)
         SELECT message_id, ordering_key, data, attributes, publish_time, ?, COALESCE(first_failure_at, ?), ?, ?, ?
         FROM messages WHERE seq = ?`,
      ),
      addToCounter: db.prepare<[number, string]>(`UPDATE counters SET value = value + ? WHERE name = ?`),
      counters: db.prepare<[], { name: string; value: number }>(`SELECT name, value FROM counters`),
      oldestEnqueuedAt: db.prepare<[], number>(`SELECT enqueued_at FROM messages ORDER BY seq LIMIT 1`).pluck(),
      deadLettersAfter: db.prepare<[number, number], DeadLetterRow>(
        `SELECT handle, message_id, ordering_key, data, attributes, publish_time, attempts,
           first_failure_at, last_failure_at, last_error
         FROM dead_letters WHERE handle > ? ORDER BY handle LIMIT ?`,
      ),
      deleteDeadLetter: db.prepare<[number]>(`DELETE FROM dead_letters WHERE handle = ?`),
    };

    this.publishTx = db.transaction((messages: readonly OutboundMessage[], now: number): string[] => {
      // Ids are assigned here rather than taken from rowids after the fact, so each message is one
      // INSERT; AUTOINCREMENT guarantees a seq (hence an id) is never handed out twice.
      let seq = this.statements.lastSeq.get()?.seq ?? 0;
      // A message is ready on arrival only when nothing of its key is queued before it: neither in
      // the file nor earlier in this same publish.
      const waiting = this.keysWithMessages(messages);
      const ids: string[] = [];
      const chunk: unknown[] = [];
      const fullChunk = ROWS_PER_INSERT * COLUMNS;
      for (const m of messages) {
        seq += 1;
        const key = m.orderingKey;
        let readyAt: number | null = now;
        if (key !== '') {
          if (waiting.has(key)) readyAt = null;
          else waiting.add(key);
        }
        chunk.push(seq, seq, key, m.data, JSON.stringify(m.attributes), now, now, readyAt);
        if (chunk.length === fullChunk) {
          this.statements.insertChunk.run(chunk);
          chunk.length = 0;
        }
        ids.push(String(seq));
      }
      for (let i = 0; i < chunk.length; i += COLUMNS) this.statements.insert.run(chunk.slice(i, i + COLUMNS));
      this.add(Counter.queued, messages.length);
      return ids;
    });

    // One transaction per dispatcher turn: recording outcomes and taking the next messages
    // together halves the commits, which dominate the store's cost at thousands of pushes a second.
    this.settleAndClaimTx = db.transaction(
      (
        settlements: readonly Settlement[],
        now: number,
        limit: number,
        inFlight: ReadonlySet<number>,
      ): ClaimedMessage[] => {
        const acked: number[] = [];
        const headsGone = new Set<string>();
        let deadLettered = 0;
        for (const s of settlements) {
          const { seq, orderingKey, attempts } = s.message;
          switch (s.kind) {
            case 'ack':
              acked.push(seq);
              break;
            case 'retry':
              this.statements.retryLater.run(attempts + 1, s.retryAt, s.failedAt, s.failedAt, s.error, seq);
              break;
            case 'dead-letter':
              if (
                this.statements.moveToDeadLetters.run(attempts + 1, s.failedAt, s.failedAt, s.error, s.failedAt, seq)
                  .changes > 0
              ) {
                this.statements.delete.run(seq);
                deadLettered += 1;
              }
              break;
          }
          if (s.kind !== 'retry' && orderingKey !== '') headsGone.add(orderingKey);
        }
        // `changes` counts only rows still there, which guards the counters against a row already
        // gone (a duplicate delivery).
        const delivered = acked.length === 0 ? 0 : this.statements.deleteMany.run(JSON.stringify(acked)).changes;
        if (headsGone.size > 0) this.statements.promoteNextOfKeys.run(now, JSON.stringify([...headsGone]));
        const removed = delivered + deadLettered;
        this.add(Counter.delivered, delivered);
        this.add(Counter.deadLettered, deadLettered);
        this.add(Counter.queued, -removed);
        if (limit <= 0) return [];
        const claimed: ClaimedMessage[] = [];
        for (const row of this.statements.dueRows.iterate(now, limit + inFlight.size)) {
          if (claimed.length === limit) break;
          if (inFlight.has(row.seq)) continue;
          claimed.push(toClaimed(row));
        }
        return claimed;
      },
    );

    this.acknowledgeTx = db.transaction((handles: readonly number[]): number[] => {
      const removed: number[] = [];
      for (const handle of handles) {
        if (this.statements.deleteDeadLetter.run(handle).changes > 0) removed.push(handle);
      }
      this.add(Counter.deadLettered, -removed.length);
      return removed;
    });
  }

  /**
   * Opens the bus file, creating it unless `mustExist` (a missing file is then BUS.UNAVAILABLE).
   * WAL with synchronous=NORMAL: a committed transaction survives a crash of the process (which is
   * what an acknowledged publish promises); only an operating-system crash or power cut can lose
   * the last few commits.
   */
  static open(file: string, options: { readonly mustExist?: boolean } = {}): LocalBusStore {
    let db: Database.Database;
    try {
      db = new Database(file, { fileMustExist: options.mustExist ?? false });
    } catch (e: unknown) {
      throw new AppError('BUS.UNAVAILABLE', `cannot open the local bus ${file}: ${errorMessage(e)}`, { cause: e });
    }
    try {
      db.pragma('journal_mode = WAL');
      db.pragma('synchronous = NORMAL');
      // Another process (a `dlq replay`) may hold the write lock for a moment.
      db.pragma('busy_timeout = 5000');
      const version = db.pragma('user_version', { simple: true }) as number;
      if (version === 0) {
        db.transaction(() => {
          db.exec(SCHEMA);
          db.pragma(`user_version = ${SCHEMA_VERSION}`);
        })();
      } else if (version !== SCHEMA_VERSION) {
        throw new AppError(
          'BUS.SCHEMA_VERSION',
          `${file} holds local bus schema version ${version}; this build reads version ${SCHEMA_VERSION}`,
        );
      }
      return new LocalBusStore(db);
    } catch (e: unknown) {
      db.close();
      throw e;
    }
  }

  /** Appends messages in one transaction; returns the message ids, in order. */
  publish(messages: readonly OutboundMessage[], now: number): string[] {
    return this.publishTx(messages, now);
  }

  /**
   * Records what became of delivery attempts, then returns up to `limit` messages that are ready,
   * due at `now` and not in `inFlight`, all in one transaction. `now` is also when the next message
   * of a key whose head was acked or dead-lettered becomes due.
   */
  settleAndClaim(
    settlements: readonly Settlement[],
    now: number,
    limit: number,
    inFlight: ReadonlySet<number>,
  ): ClaimedMessage[] {
    if (settlements.length === 0 && limit <= 0) return [];
    return this.settleAndClaimTx(settlements, now, limit, inFlight);
  }

  /**
   * When the next ready message after `now` becomes due, or null when none is. Those due by `now`
   * are left out: the dispatcher has them in flight already, or no slot free for them.
   */
  nextReadyAfter(now: number): number | null {
    return this.statements.nextReadyAfter.get(now) ?? null;
  }

  counts(): StoreCounts {
    const values = new Map(this.statements.counters.all().map((r) => [r.name, r.value]));
    return {
      queued: values.get(Counter.queued) ?? 0,
      delivered: values.get(Counter.delivered) ?? 0,
      deadLettered: values.get(Counter.deadLettered) ?? 0,
    };
  }

  /** When the message longest in the queue (in flight included) was enqueued. */
  oldestEnqueuedAt(): number | null {
    return this.statements.oldestEnqueuedAt.get() ?? null;
  }

  /** Up to `limit` dead letters after `afterHandle`, in the order they were dead-lettered. */
  deadLettersAfter(afterHandle: number, limit: number): DeadLetter[] {
    return this.statements.deadLettersAfter.all(afterHandle, limit).map(toDeadLetter);
  }

  /** Deletes the dead letters with these handles in one transaction; returns those that existed. */
  acknowledgeDeadLetters(handles: readonly number[]): number[] {
    return this.acknowledgeTx(handles);
  }

  close(): void {
    if (this.db.open) this.db.close();
  }

  /** The ordering keys among `messages` that already have messages in the file. */
  private keysWithMessages(messages: readonly OutboundMessage[]): Set<string> {
    const keys = [...new Set(messages.map((m) => m.orderingKey).filter((k) => k !== ''))];
    const found = new Set<string>();
    for (let i = 0; i < keys.length; i += KEYS_PER_LOOKUP) {
      const batch = keys.slice(i, i + KEYS_PER_LOOKUP);
      // The statement has a fixed number of parameters; repeating a key fills a short last batch.
      while (batch.length < KEYS_PER_LOOKUP) batch.push(batch[0] ?? '');
      for (const key of this.statements.keysWithMessages.all(batch)) found.add(key);
    }
    return found;
  }

  private add(counter: Counter, delta: number): void {
    if (delta !== 0) this.statements.addToCounter.run(delta, counter);
  }
}

function parseAttributes(text: string): Record<string, string> {
  return JSON.parse(text) as Record<string, string>;
}

function toClaimed(row: MessageRow): ClaimedMessage {
  return {
    seq: row.seq,
    messageId: String(row.message_id),
    orderingKey: row.ordering_key,
    data: row.data,
    attributes: parseAttributes(row.attributes),
    publishTime: new Date(row.publish_time),
    attempts: row.attempts,
  };
}

function toDeadLetter(row: DeadLetterRow): DeadLetter {
  return {
    handle: String(row.handle),
    messageId: String(row.message_id),
    orderingKey: row.ordering_key === '' ? null : row.ordering_key,
    data: row.data,
    attributes: parseAttributes(row.attributes),
    deliveryAttempts: row.attempts,
    firstFailureAt: row.first_failure_at === null ? null : new Date(row.first_failure_at),
    lastFailureAt: row.last_failure_at === null ? null : new Date(row.last_failure_at),
    lastError: row.last_error,
  };
}
