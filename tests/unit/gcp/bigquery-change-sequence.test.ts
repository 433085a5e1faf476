import { changeSequenceNumber, changeType } from '../../../shared/adapters/gcp/bigquery-change-sequence';
import { compareLatest, type LatestKey } from '@changefeed/shared/warehouse';
import { mulberry32 } from '../../support/change-streams';

/**
 * BigQuery compares `_CHANGE_SEQUENCE_NUMBER` section by section as unsigned 64-bit numbers and
 * keeps the highest. With fixed-width sections that is the order of the strings' sections.
 */
function compareSequences(a: string, b: string): number {
  const as = a.split('/').map((s) => BigInt(`0x${s}`));
  const bs = b.split('/').map((s) => BigInt(`0x${s}`));
  for (let i = 0; i < Math.max(as.length, bs.length); i++) {
    const x = as[i] ?? 0n;
    const y = bs[i] ?? 0n;
    if (x !== y) return x > y ? -1 : 1;
  }
  return 0;
}

const hex32 = (next: () => number): string =>
  Array.from({ length: 32 }, () => Math.floor(next() * 16).toString(16)).join('');

describe('changeSequenceNumber', () => {
  it('has the format BigQuery accepts: up to four /-separated sections of at most 16 hex digits', () => {
    const sequence = changeSequenceNumber({ version: 7, event_time: new Date(0), event_id: 'abc' });
    expect(sequence).toMatch(/^[0-9A-F]{1,16}(\/[0-9A-F]{1,16}){0,3}$/);
  });

  it('orders any two events as _current does: higher version, then later time, then smaller event id', () => {
    const next = mulberry32(42);
    const key = (): LatestKey => ({
      // Few distinct values, so that ties on version and time are common.
      version: Math.floor(next() * 4),
      event_time: new Date(1_700_000_000_000 + Math.floor(next() * 3) * 1000),
      event_id: hex32(next),
    });
    for (let i = 0; i < 5_000; i++) {
      const a = key();
      const b = next() < 0.1 ? { ...a } : key();
      expect([Math.sign(compareSequences(changeSequenceNumber(a), changeSequenceNumber(b))), a, b]).toEqual([
        Math.sign(compareLatest(a, b)),
        a,
        b,
      ]);
    }
  });

  it('orders event ids by their bytes, as GoogleSQL compares strings, whatever their length', () => {
    const at = new Date(0);
    const seq = (event_id: string): string => changeSequenceNumber({ version: 1, event_time: at, event_id });
    // The smaller id wins (sorts first in _current's order), so its sequence number is higher.
    expect(compareSequences(seq('a'), seq('b'))).toBeLessThan(0);
    expect(compareSequences(seq('a'), seq('ab'))).toBeLessThan(0);
    expect(compareSequences(seq('Z'), seq('a'))).toBeLessThan(0);
  });

  it('refuses a version that does not fit an unsigned 64-bit section, instead of wrapping it', () => {
    expect(() => changeSequenceNumber({ version: -1, event_time: new Date(0), event_id: 'x' })).toThrow(RangeError);
  });
});

describe('changeType', () => {
  it('deletes for a deletion and upserts for anything else', () => {
    expect(changeType({ event_type: 'deleted' })).toBe('DELETE');
    expect(changeType({ event_type: 'created' })).toBe('UPSERT');
    expect(changeType({ event_type: 'updated' })).toBe('UPSERT');
  });
});
