export const EventType = {
  created: 'created',
  updated: 'updated',
  deleted: 'deleted',
} as const;
export type EventType = (typeof EventType)[keyof typeof EventType];

/** One row of `<table>_changes`: one event as the loader received it. */
export interface ChangeRow {
  readonly event_id: string;
  readonly event_type: EventType;
  readonly source: string;
  readonly entity_id: string;
  readonly version: number;
  /** The record as JSON text; null for deletions. */
  readonly data: string | null;
  readonly event_time: Date;
  readonly publish_time: Date;
  readonly ingested_at: Date;
  /** Absent when the bus does not report it (the Pub/Sub emulator, no dead-letter policy). */
  readonly delivery_attempt: number | null;
  readonly message_id: string;
}

/** One row of `_rejected`: a message that can never be valid, kept with the reason. */
export interface RejectedRow {
  readonly message_id: string | null;
  readonly subscription: string | null;
  readonly reason: string;
  /** The raw push body (or as much of it as is safe to keep). */
  readonly payload: string;
  readonly received_at: Date;
}

/** Where the loader appends what it received. Implementations create tables on first use. */
export interface RowSink {
  /**
   * Appends to `<table>_changes` and applies the rows to `<table>_current` (creating both, and
   * `<table>_history`, if needed); durable on resolve. A row that can never be stored (`data`
   * that is not JSON text, a version that is not an integer, ...) rejects the whole call with
   * `WAREHOUSE.INVALID_ROW` naming it: the loader relies on this to refuse such a record alone.
   */
  appendChanges(table: string, rows: readonly ChangeRow[]): Promise<void>;
  /** Appends to `_rejected`; durable on resolve. */
  appendRejected(rows: readonly RejectedRow[]): Promise<void>;
  close(): Promise<void>;
}
