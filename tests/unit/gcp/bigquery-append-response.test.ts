import { appendResponseError } from '../../../shared/adapters/gcp/bigquery-append-response';
import { AppError, isRetryable } from '@changefeed/shared/errors';

/** Names rows as the warehouse does, by an index the test can see. */
const where = (index: number): string => `carts_changes row ${index} (event e${index})`;

describe('appendResponseError (what an AppendRows response says went wrong)', () => {
  it('an appended request is no error', () => {
    expect(appendResponseError({ appendResult: { offset: null } }, where)).toBeUndefined();
    expect(appendResponseError({ error: { code: 0, message: '' } }, where)).toBeUndefined();
  });

  it('rows refused for their content are WAREHOUSE.INVALID_ROW, not retryable, naming the row and the reason', () => {
    const error = appendResponseError(
      { rowErrors: [{ index: 2, code: 'FIELDS_ERROR', message: 'JSON parsing error in row starting at position 0' }] },
      where,
    );
    expect(error).toBeInstanceOf(AppError);
    expect(error).toMatchObject({ code: 'WAREHOUSE.INVALID_ROW', details: { rowIndexes: [2] } });
    expect(isRetryable(error)).toBe(false);
    expect((error as AppError).message).toBe(
      'carts_changes row 2 (event e2): BigQuery refused it: JSON parsing error in row starting at position 0',
    );
  });

  it('several refused rows: the first is named, the count of the others told; an int64 index as text or Long is read', () => {
    const long = { toString: (): string => '7' };
    const error = appendResponseError(
      {
        rowErrors: [
          { index: '5', code: 1, message: 'bad value' },
          // A Long as protobufjs decodes an int64: only its toString matters here.
          { index: long as unknown as number, code: 1, message: 'another' },
        ],
      },
      where,
    );
    expect(error).toMatchObject({ code: 'WAREHOUSE.INVALID_ROW', details: { rowIndexes: [5, 7] } });
    expect((error as AppError).message).toBe(
      'carts_changes row 5 (event e5): BigQuery refused it: bad value (and 1 more row(s) of the request)',
    );
  });

  it('a row error without an index still refuses a row, without naming one', () => {
    const error = appendResponseError({ rowErrors: [{ message: 'bad' }] }, where);
    expect(error).toMatchObject({ code: 'WAREHOUSE.INVALID_ROW', message: 'a row: BigQuery refused it: bad' });
  });

  it('a status for the whole request stays a gRPC status, for the appender to classify', () => {
    const error = appendResponseError({ error: { code: 3, message: 'Input schema mismatch' } }, where);
    expect(error).toEqual({ code: 3, message: 'Input schema mismatch' });
    expect(error).not.toBeInstanceOf(AppError);
  });
});
