import { AppError } from '../../errors';
import { estimatedRowBytes } from './bigquery-default-stream';
import type { WriterRow } from './bigquery-tables';

/**
 * The largest row a load job takes: 100 MB (JSON), which changefeed reads as 100 MiB, the bound
 * `sources[].maxRecordBytes` has too. A change row above it cannot be stored in BigQuery at all.
 * https://cloud.google.com/bigquery/quotas#load_jobs
 */
export const MAX_LOAD_JOB_ROW_BYTES = 100 * 1024 * 1024;

/** Which rows of an append take which path, by index, with every row's estimated size. */
export interface RoutedRows {
  /** Rows that fit an AppendRows request: the Storage Write API, as always. */
  readonly streamed: number[];
  /** Rows too large for one AppendRows request but within a load job's row limit. */
  readonly loaded: number[];
  /** `estimatedRowBytes` of every row, so the Storage Write path does not measure them again. */
  readonly sizes: number[];
}

/**
 * Sends each row the fast way when it can: only a row larger than one AppendRows request holds
 * (`maxStreamBytes`) goes to a load job. A row larger than `maxLoadBytes` too is refused before
 * anything is written: `WAREHOUSE.ROW_TOO_LARGE`, not retryable, naming it by `where`.
 */
export function routeBySize(
  rows: readonly WriterRow[],
  maxStreamBytes: number,
  maxLoadBytes: number,
  where: (index: number) => string,
): RoutedRows {
  const streamed: number[] = [];
  const loaded: number[] = [];
  const sizes = rows.map((row, index) => {
    const bytes = estimatedRowBytes(row);
    if (bytes <= maxStreamBytes) streamed.push(index);
    else if (bytes <= maxLoadBytes) loaded.push(index);
    else {
      throw new AppError(
        'WAREHOUSE.ROW_TOO_LARGE',
        `${where(index)} is about ${bytes} bytes; BigQuery stores rows of at most ${maxLoadBytes}`,
        { retryable: false, details: { bytes, maxBytes: maxLoadBytes } },
      );
    }
    return bytes;
  });
  return { streamed, loaded, sizes };
}
