import { ndjsonPieces, writerRowLine } from '../../../shared/adapters/gcp/bigquery-ndjson-load';
import { routeBySize } from '../../../shared/adapters/gcp/bigquery-oversize-rows';
import { estimatedRowBytes } from '../../../shared/adapters/gcp/bigquery-default-stream';
import { AppError } from '@changefeed/shared/errors';

const where = (i: number): string => `carts_changes row ${i}`;
const row = (chars: number): Record<string, string> => ({
  event_id: 'e',
  data: JSON.stringify({ blob: 'x'.repeat(chars) }),
});

describe('routeBySize (which rows leave the Storage Write path)', () => {
  it('rows that fit a request are streamed; larger ones up to the load limit are loaded; every row’s size comes back', () => {
    const rows = [row(10), row(2_000), row(10), row(5_000)];
    const routed = routeBySize(rows, 1_000, 10_000, where);
    expect(routed).toEqual({ streamed: [0, 2], loaded: [1, 3], sizes: rows.map(estimatedRowBytes) });
  });

  it('a row over the load limit too is WAREHOUSE.ROW_TOO_LARGE, not retryable, naming it', () => {
    const error = ((): unknown => {
      try {
        routeBySize([row(10), row(20_000)], 1_000, 10_000, where);
        return undefined;
      } catch (e: unknown) {
        return e;
      }
    })();
    expect(error).toBeInstanceOf(AppError);
    expect(error).toMatchObject({ code: 'WAREHOUSE.ROW_TOO_LARGE', retryable: false });
    expect((error as AppError).message).toMatch(
      /^carts_changes row 1 is about \d+ bytes; BigQuery stores rows of at most 10000$/,
    );
  });
});

describe('writerRowLine (a Storage Write row as a load job line)', () => {
  it('JSON text goes in as JSON, unparsed (an integer beyond a double keeps its digits), on one line; timestamps as ISO text', () => {
    const line = writerRowLine(
      {
        event_id: 'e1',
        data: '{\n  "id": 12345678901234567890,\r\n  "s": "a\\nb"\n}',
        version: 3,
        event_time: new Date('2026-12-07T21:00:00.000Z'),
        delivery_attempt: null,
      },
      new Set(['data']),
    );
    expect(line).not.toMatch(/[\r\n]/);
    expect(line).toContain('"data":{   "id": 12345678901234567890,    "s": "a\\nb" }');
    expect(JSON.parse(line.replace('12345678901234567890', '"12345678901234567890"'))).toEqual({
      event_id: 'e1',
      data: { id: '12345678901234567890', s: 'a\nb' },
      version: 3,
      event_time: '2026-12-07T21:00:00.000Z',
      delivery_attempt: null,
    });
  });

  it('a null JSON value is null', () => {
    expect(writerRowLine({ data: null }, new Set(['data']))).toBe('{"data":null}');
  });
});

describe('ndjsonPieces', () => {
  it('every line ends in a newline, and the pieces join to the lines in order', () => {
    const lines = Array.from({ length: 3000 }, (_, i) => `{"i":${i},"pad":"${'p'.repeat(1000)}"}`);
    const pieces = [...ndjsonPieces(lines)];
    expect(pieces.length).toBeGreaterThan(1);
    expect(pieces.every((p) => p.endsWith('\n'))).toBe(true);
    expect(pieces.join('')).toBe(`${lines.join('\n')}\n`);
  });
});
