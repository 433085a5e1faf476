import { estimatedRowBytes, splitIntoRequests } from '../../../shared/adapters/gcp/bigquery-default-stream';
import { bigQueryError, describeFailure } from '../../../shared/adapters/gcp/bigquery-errors';
import { alignWithTarget, inferColumns } from '../../../shared/adapters/gcp/bigquery-reference-schema';
import { AppError } from '@changefeed/shared/errors';

/** The BigQuery adapter's pure parts: what is retried, how appends are split, how schemas line up. */
describe('BigQuery error mapping', () => {
  it.each([
    [14, 'UNAVAILABLE', true],
    [8, 'RESOURCE_EXHAUSTED', true],
    [4, 'DEADLINE_EXCEEDED', true],
    [13, 'INTERNAL', true],
    [10, 'ABORTED', true],
    [5, 'NOT_FOUND', true],
    [3, 'INVALID_ARGUMENT', false],
    [9, 'FAILED_PRECONDITION', false],
  ])('Storage Write status %i (%s) is retryable: %s', (code, status, retryable) => {
    expect(describeFailure({ code, message: 'x' }, 'storage-write')).toMatchObject({ status, retryable });
  });

  it.each([
    [{ code: 400, errors: [{ reason: 'invalidQuery' }] }, false],
    [{ errors: [{ reason: 'invalid' }] }, false],
    [{ code: 403, errors: [{ reason: 'quotaExceeded' }] }, true],
    [{ code: 403, errors: [{ reason: 'rateLimitExceeded' }] }, true],
    [{ code: 403, errors: [{ reason: 'accessDenied' }] }, true],
    [{ code: 500, errors: [{ reason: 'backendError' }] }, true],
    [{ code: 503 }, true],
    [{ code: 400 }, false],
    [Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:1'), { code: 'ECONNREFUSED' }), true],
  ])('REST failure %j is retryable: %s', (error, retryable) => {
    expect(describeFailure(error, 'rest').retryable).toBe(retryable);
  });

  it('maps once: an AppError passes through unchanged', () => {
    const original = new AppError('WAREHOUSE.INVALID_ROW', 'bad row', { retryable: false });
    expect(bigQueryError('WAREHOUSE.WRITE_FAILED', 'appending', original, 'rest')).toBe(original);
  });
});

describe('splitIntoRequests', () => {
  const row = (chars: number): Record<string, string> => ({ data: 'x'.repeat(chars) });

  it('keeps every request within the byte budget and the rows in order', () => {
    const rows = Array.from({ length: 10 }, (_, i) => ({ ...row(100), id: String(i) }));
    const budget = estimatedRowBytes(rows[0]!) * 3;
    const requests = splitIntoRequests(rows, budget, (i) => `row ${i}`);
    expect(requests.map((r) => r.length)).toEqual([3, 3, 3, 1]);
    expect(requests.flat()).toEqual(rows);
    for (const request of requests) {
      expect(request.reduce((sum, r) => sum + estimatedRowBytes(r), 0)).toBeLessThanOrEqual(budget);
    }
  });

  it('a row larger than a request is refused, not retried', () => {
    expect(() => splitIntoRequests([row(10), row(1000)], 500, (i) => `row ${i}`)).toThrow(
      expect.objectContaining({ code: 'WAREHOUSE.ROW_TOO_LARGE', retryable: false }) as Error,
    );
  });
});

describe('reference table schemas', () => {
  it('infers one column per key, widening INT64 with FLOAT64 and anything mixed to JSON', () => {
    expect(
      inferColumns([
        { a: 1, b: 'x', c: null },
        { a: 1.5, b: 2, d: { e: 1 } },
      ]),
    ).toEqual([
      { name: 'a', type: 'FLOAT64' },
      { name: 'b', type: 'JSON' },
      { name: 'c', type: null },
      { name: 'd', type: 'JSON' },
    ]);
  });

  it('a merge adds new columns, widens INT64 in place and rewrites what BigQuery cannot retype', () => {
    const aligned = alignWithTarget(
      inferColumns([{ id: 1, size: 'XL', weight: 2.5, color: 'red' }]),
      [
        { name: 'id', type: 'INTEGER' },
        { name: 'size', type: 'INTEGER' },
        { name: 'weight', type: 'INTEGER' },
        { name: '_loaded_at', type: 'TIMESTAMP' },
      ],
      'products',
    );
    expect(aligned.add.map((f) => f.name)).toEqual(['color']);
    expect(aligned.widen).toEqual(['weight']);
    expect(aligned.rewrite).toEqual([{ name: 'size', to: 'STRING' }]);
  });

  it('values a declared column type cannot take are refused', () => {
    expect(() => alignWithTarget(inferColumns([{ at: true }]), [{ name: 'at', type: 'TIMESTAMP' }], 'events')).toThrow(
      expect.objectContaining({ code: 'WAREHOUSE.SCHEMA_MISMATCH', retryable: false }) as Error,
    );
  });
});
