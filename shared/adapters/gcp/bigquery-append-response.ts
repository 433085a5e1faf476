import type { protos } from '@google-cloud/bigquery-storage';
import { AppError } from '../../errors';

export type AppendRowsResponse = protos.google.cloud.bigquery.storage.v1.IAppendRowsResponse;

/** A failure the service put in an AppendRows response: its gRPC status code and message. */
export interface ResponseStatus {
  readonly code: number;
  readonly message: string;
}

/**
 * What an AppendRows response that the managed writer resolved (rather than rejected) says went
 * wrong, or undefined when the request was appended.
 *
 * - `rowErrors`: the service refused rows of the request for their content, and then appends no
 *   row of that request ("If a request failed due to corrupted rows, no rows in the batch will be
 *   appended", AppendRowsResponse.row_errors). Those rows can never be stored, so this is
 *   `WAREHOUSE.INVALID_ROW`, not retryable, naming the first refused row by `where(index)` (the
 *   row's index in the request) with the service's message: the loader then isolates that row and
 *   its neighbours land.
 * - `error`: a status for the whole request, mapped by its gRPC code like a failed call.
 *
 * https://cloud.google.com/bigquery/docs/reference/storage/rpc/google.cloud.bigquery.storage.v1#appendrowsresponse
 */
export function appendResponseError(
  response: AppendRowsResponse,
  where: (index: number) => string,
): AppError | ResponseStatus | undefined {
  const rowErrors = response.rowErrors ?? [];
  const first = rowErrors[0];
  if (first !== undefined) {
    const index = rowIndex(first.index);
    const indexes = rowErrors.map((e) => rowIndex(e.index));
    const others = rowErrors.length > 1 ? ` (and ${rowErrors.length - 1} more row(s) of the request)` : '';
    return new AppError(
      'WAREHOUSE.INVALID_ROW',
      `${index === undefined ? 'a row' : where(index)}: BigQuery refused it: ${first.message ?? 'no reason given'}${others}`,
      { retryable: false, details: { rowIndexes: indexes } },
    );
  }
  const error = response.error;
  if (error !== null && error !== undefined && (error.code ?? 0) !== 0) {
    return { code: error.code ?? 2, message: error.message ?? '' };
  }
  return undefined;
}

/** A RowError's index (an int64, which protobufjs hands over as a number, a Long or text). */
function rowIndex(index: number | { toString(): string } | string | null | undefined): number | undefined {
  if (index === null || index === undefined) return undefined;
  const n = Number(typeof index === 'number' ? index : index.toString());
  return Number.isSafeInteger(n) && n >= 0 ? n : undefined;
}
