import type { ReferenceLoader } from './reference-loader';
import type { RowSink } from './row-sink';
import type { RunLog } from './run-log';

/** Reads the warehouse: one SQL statement in the warehouse's dialect, rows as JSON-friendly objects. */
export interface WarehouseReader {
  query(sql: string): Promise<Record<string, unknown>[]>;
}

/**
 * The warehouse as a whole: where the loader appends changes and rejections, the batch job loads
 * reference tables, every run leaves its audit row, and users query. DuckDB locally, BigQuery on
 * Google Cloud; the tables are described once in `shared/warehouse/tables.ts`.
 */
export interface Warehouse extends RowSink, ReferenceLoader, RunLog, WarehouseReader {
  /** Waits for the writes in flight, then releases the connections; idempotent. */
  close(): Promise<void>;
}
