import { randomUUID } from 'node:crypto';
import type { CursorStore } from '@changefeed/shared/ports';

/** Opens stores on one set of data, as a batch job that runs again opens its store again. */
export interface CursorStoreHarness {
  /** A store on the same data as every other store this harness opened. */
  open(): CursorStore | Promise<CursorStore>;
  /** Closes what it opened. */
  close(): Promise<void>;
}

/**
 * What every CursorStore must do (the SQLite and Firestore snapshot stores, and the unit tests'
 * fakes): keep one text watermark per source, exactly as given, across stores opened on the same
 * data. Each test uses its own source names, so data shared between tests (an emulator) works too.
 */
export function cursorStoreContract(name: string, makeHarness: () => CursorStoreHarness | Promise<CursorStoreHarness>) {
  describe(`CursorStore contract: ${name}`, () => {
    let harness: CursorStoreHarness;
    let store: CursorStore;
    let run: string;

    beforeEach(async () => {
      harness = await makeHarness();
      store = await harness.open();
      run = randomUUID().slice(0, 8);
    });

    afterEach(() => harness.close());

    it('a source without a stored cursor has none', async () => {
      expect(await store.getCursor(`products-${run}`)).toBeUndefined();
    });

    it('a stored cursor reads back, and the latest one wins even when it is smaller', async () => {
      const source = `products-${run}`;
      await store.setCursor(source, '2024-01-02T00:00:00.000Z');
      await store.setCursor(source, '2024-01-01T00:00:00.000Z');
      expect(await store.getCursor(source)).toBe('2024-01-01T00:00:00.000Z');
    });

    it('sources keep separate cursors', async () => {
      await store.setCursor(`products-${run}`, '17');
      await store.setCursor(`users-${run}`, '2024-01-01T00:00:00.000Z');
      expect(await store.getCursor(`products-${run}`)).toBe('17');
      expect(await store.getCursor(`users-${run}`)).toBe('2024-01-01T00:00:00.000Z');
      expect(await store.getCursor(`orders-${run}`)).toBeUndefined();
    });

    it('a cursor is text and comes back exactly: empty, non-ASCII, long', async () => {
      const cursors = ['', 'ü ✓ 𝄞 "quoted" \\ back', 'x'.repeat(10_000), ' 0017 '];
      for (const [i, cursor] of cursors.entries()) await store.setCursor(`text-${i}-${run}`, cursor);
      for (const [i, cursor] of cursors.entries()) expect(await store.getCursor(`text-${i}-${run}`)).toBe(cursor);
    });

    it('source names that are not plain identifiers are kept apart, each with its own cursor', async () => {
      const names = [`a/b-${run}`, `a.b-${run}`, `__${run}__`, `a b ü-${run}`, `../a-${run}`, `a-${run}`];
      for (const [i, source] of names.entries()) await store.setCursor(source, `c-${i}`);
      for (const [i, source] of names.entries()) expect(await store.getCursor(source)).toBe(`c-${i}`);
    });

    it('a store opened later on the same data reads the cursor the earlier one stored', async () => {
      await store.setCursor(`products-${run}`, 'c-1');
      const later = await harness.open();
      expect(await later.getCursor(`products-${run}`)).toBe('c-1');
      await later.setCursor(`products-${run}`, 'c-2');
      expect(await store.getCursor(`products-${run}`)).toBe('c-2');
    });
  });
}
