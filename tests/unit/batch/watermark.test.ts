import { nextWatermark } from '../../../services/batch/src/watermark';
import { prepareRecords, recordId } from '@changefeed/shared/change';

describe('nextWatermark', () => {
  it('compares numbers numerically (9 < 10)', () => {
    expect(nextWatermark([{ v: 9 }, { v: 10 }, { v: 2 }], 'v', undefined)).toEqual({ cursor: '10', missing: 0 });
    expect(nextWatermark([{ v: 9 }], 'v', '10')).toEqual({ cursor: '10', missing: 0 });
    expect(nextWatermark([{ v: 11 }], 'v', '10')).toEqual({ cursor: '11', missing: 0 });
  });

  it('compares ISO timestamps as strings', () => {
    const records = [{ at: '2024-01-01T10:00:00.000Z' }, { at: '2024-01-02T09:00:00.000Z' }];
    expect(nextWatermark(records, 'at', '2024-01-01T23:00:00.000Z').cursor).toBe('2024-01-02T09:00:00.000Z');
  });

  it('counts records without a value and reads dot paths', () => {
    expect(nextWatermark([{ m: { at: 'b' } }, { m: {} }, { m: { at: null } }], 'm.at', undefined)).toEqual({
      cursor: 'b',
      missing: 2,
    });
  });

  it('keeps the previous value when nothing is newer, undefined when there is nothing at all', () => {
    expect(nextWatermark([], 'at', 'x')).toEqual({ cursor: 'x', missing: 0 });
    expect(nextWatermark([], 'at', undefined)).toEqual({ cursor: undefined, missing: 0 });
  });
});

describe('prepareRecords', () => {
  it('keeps objects with an id once (the first), counting the rest', () => {
    const prepared = prepareRecords([{ id: 1, v: 'a' }, { id: 1, v: 'b' }, null, [1], { id: {} }, { id: '1' }], 'id');
    expect(prepared.records).toEqual([{ id: 1, v: 'a' }]);
    expect(prepared.skipped).toEqual({ notObject: 2, missingId: 1, duplicateId: 2 });
    expect(prepared.firstSkippedAt).toEqual([1, 2, 3, 4, 5]);
  });

  it('turns ids into text', () => {
    expect(recordId({ id: 7 }, 'id')).toBe('7');
    expect(recordId({ id: 'x' }, 'id')).toBe('x');
    expect(recordId({ id: Number.NaN }, 'id')).toBeUndefined();
    expect(recordId({ id: -3 }, 'id')).toBe('-3');
  });

  it('takes only strings and integers JSON parses exactly as ids', () => {
    for (const id of [true, false, 1.5, 2 ** 53, 1e21, Number.POSITIVE_INFINITY, {}, [], null, '']) {
      expect(recordId({ id }, 'id')).toBeUndefined();
    }
    expect(recordId({ id: 2 ** 53 - 1 }, 'id')).toBe('9007199254740991');
    const prepared = prepareRecords([{ id: true }, { id: 'true' }, { id: 2.5 }, { id: 2 }], 'id');
    expect(prepared.ids).toEqual(['true', '2']);
    expect(prepared.skipped).toEqual({ notObject: 0, missingId: 2, duplicateId: 0 });
  });
});
