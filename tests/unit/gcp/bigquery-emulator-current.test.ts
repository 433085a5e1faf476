import { PassThrough } from 'node:stream';
import { DEFAULT_CURRENT_OPTIONS, withoutChangeCapture, type CurrentOptions } from '@changefeed/shared/adapters/gcp';
import { createLogger } from '@changefeed/shared/log';

describe('withoutChangeCapture (the BigQuery emulator)', () => {
  it('keeps cdc tables by merge, leaves merge tables alone, and says so once per table', () => {
    const stream = new PassThrough();
    const lines: string[] = [];
    stream.on('data', (chunk: Buffer) => lines.push(...chunk.toString('utf8').trim().split('\n')));
    const configured: Record<string, CurrentOptions> = {
      carts: { ...DEFAULT_CURRENT_OPTIONS, mode: 'cdc', compactEveryMs: 5_000 },
      orders: { ...DEFAULT_CURRENT_OPTIONS, mode: 'merge', compactEveryMs: 0 },
    };
    const current = withoutChangeCapture(
      (t) => configured[t] ?? DEFAULT_CURRENT_OPTIONS,
      createLogger('test', { stream }),
    );

    expect(current('carts')).toEqual({ ...configured['carts'], mode: 'merge' });
    expect(current('carts').mode).toBe('merge');
    expect(current('orders')).toEqual(configured['orders']);
    const warnings = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(warnings.map((w) => [w['level'], w['table']])).toEqual([['warn', 'carts']]);
    expect(String(warnings[0]?.['message'])).toContain('change data capture');
  });
});
