import { timestampTZValue, type DuckDBConnection } from '@duckdb/node-api';
import { DEFAULT_CHECKPOINT_THRESHOLD } from '@changefeed/shared/adapters/local';
import type { ChangeRow } from '@changefeed/shared/ports';

/** The database settings the warehouse runs with, so the baseline is not slowed by checkpoints it would not have. */
export const BARE_SETTINGS = { checkpoint_threshold: DEFAULT_CHECKPOINT_THRESHOLD };

/**
 * The baseline the warehouse's append is measured against: DuckDB's appender writing change rows
 * into a table of the same columns, with no value checks, no `_current` and nothing else.
 */
export async function createBareChangesTable(c: DuckDBConnection, table: string): Promise<void> {
  await c.run(`CREATE TABLE ${table} (event_id VARCHAR, event_type VARCHAR, source VARCHAR, entity_id VARCHAR,
    version BIGINT, data JSON, event_time TIMESTAMPTZ, publish_time TIMESTAMPTZ, ingested_at TIMESTAMPTZ,
    delivery_attempt INTEGER, message_id VARCHAR)`);
}

/** Appends `rows` to `table` in one transaction. */
export async function appendBare(c: DuckDBConnection, table: string, rows: readonly ChangeRow[]): Promise<void> {
  await c.run('BEGIN TRANSACTION');
  const appender = await c.createAppender(table);
  for (const r of rows) {
    appender.appendVarchar(r.event_id);
    appender.appendVarchar(r.event_type);
    appender.appendVarchar(r.source);
    appender.appendVarchar(r.entity_id);
    appender.appendBigInt(BigInt(r.version));
    appender.appendVarchar(r.data ?? '');
    for (const d of [r.event_time, r.publish_time, r.ingested_at]) {
      appender.appendTimestampTZ(timestampTZValue(BigInt(d.getTime()) * 1000n));
    }
    appender.appendInteger(r.delivery_attempt ?? 0);
    appender.appendVarchar(r.message_id);
    appender.endRow();
  }
  appender.flushSync();
  appender.closeSync();
  await c.run('COMMIT');
}
