import { randomUUID } from 'node:crypto';
import { AppError } from '@changefeed/shared/errors';
import type { JsonRecord, ReferenceLoader } from '@changefeed/shared/ports';

type Row = Record<string, unknown>;

/**
 * How the suite opens a loader and looks at what it wrote, in the loader's own dialect. Called
 * once per test for `open`; the suite closes what it opened.
 */
export interface ReferenceLoaderHarness<L extends ReferenceLoader> {
  open(): L | Promise<L>;
  close(loader: L): Promise<void>;
  /** Every row of `table` with every column, in no particular order; null when there is no such table. */
  rows(loader: L, table: string): Promise<Row[] | null>;
  /** The column names of `table` in table order; null when there is no such table. */
  columns(loader: L, table: string): Promise<string[] | null>;
  /**
   * Records that this warehouse can never load. Each adapter has its own: DuckDB
   * renames keys BigQuery refuses, and BigQuery loads records DuckDB cannot infer columns from.
   */
  readonly unloadable: readonly JsonRecord[];
}

const LOADED_AT = '_loaded_at';

/** The rows without `_loaded_at`, ordered by `by` (a top-level column or a dot path). */
function sorted(rows: readonly Row[], by: string): Row[] {
  const keyOf = (row: Row): string => {
    let value: unknown = row;
    for (const step of by.split('.')) value = (value as Row | null)?.[step];
    return typeof value === 'number' ? value.toString().padStart(20, '0') : String(value);
  };
  return rows
    .map((row) => Object.fromEntries(Object.entries(row).filter(([name]) => name !== LOADED_AT)))
    .sort((a, b) => keyOf(a).localeCompare(keyOf(b)));
}

async function rejection(promise: Promise<unknown>): Promise<AppError> {
  const error: unknown = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(AppError);
  return error as AppError;
}

/**
 * What every ReferenceLoader promises the batch job (shared/ports/reference-loader.ts), whatever the
 * warehouse: a replace is atomic and takes the new records' shape, a merge upserts by key, and
 * empty loads write nothing. Each test uses tables of its own, so a shared warehouse works.
 */
export function referenceLoaderContract<L extends ReferenceLoader>(
  name: string,
  harness: ReferenceLoaderHarness<L>,
): void {
  describe(`ReferenceLoader contract: ${name}`, () => {
    let loader: L;
    let table: string;

    beforeEach(async () => {
      loader = await harness.open();
      table = `ref_${randomUUID().replaceAll('-', '').slice(0, 10)}`;
    });

    afterEach(() => harness.close(loader));

    const rows = async (by = 'id', of = table): Promise<Row[] | null> => {
      const found = await harness.rows(loader, of);
      return found === null ? null : sorted(found, by);
    };

    describe('replaceTable', () => {
      it('the first replace creates the table with a column per key, plus _loaded_at', async () => {
        expect(await loader.replaceTable(table, [{ id: 1, name: 'pen' }])).toBe(1);
        expect(await harness.columns(loader, table)).toEqual(['id', 'name', LOADED_AT]);
        expect(await rows()).toEqual([{ id: 1, name: 'pen' }]);
      });

      it('columns come from every record; a key a record lacks is NULL there', async () => {
        await loader.replaceTable(table, [
          { id: 1, name: 'pen' },
          { id: 2, tags: ['a', 'b'], dims: { w: 1.5 } },
        ]);
        expect(await rows()).toEqual([
          { id: 1, name: 'pen', tags: null, dims: null },
          { id: 2, name: null, tags: ['a', 'b'], dims: { w: 1.5 } },
        ]);
      });

      it('a second replace leaves only its own records and its own columns', async () => {
        await loader.replaceTable(table, [
          { id: 1, old: true },
          { id: 2, old: true },
        ]);
        expect(await loader.replaceTable(table, [{ id: 3, name: 'ink' }])).toBe(1);
        expect(await harness.columns(loader, table)).toEqual(['id', 'name', LOADED_AT]);
        expect(await rows()).toEqual([{ id: 3, name: 'ink' }]);
      });

      it('a second replace may change a column’s type', async () => {
        await loader.replaceTable(table, [{ id: 'one' }]);
        await loader.replaceTable(table, [{ id: 1 }, { id: 2 }]);
        expect(await rows()).toEqual([{ id: 1 }, { id: 2 }]);
      });

      it('the same replace twice gives the same table', async () => {
        const records = [
          { id: 1, name: 'pen' },
          { id: 2, name: 'ink' },
        ];
        await loader.replaceTable(table, records);
        await loader.replaceTable(table, records);
        expect(await rows()).toEqual(records);
      });

      it('every row gets the time of its load, replacing a record’s own _loaded_at', async () => {
        await loader.replaceTable(table, [{ id: 1, [LOADED_AT]: 'from the API' }]);
        const [row] = (await harness.rows(loader, table)) ?? [];
        expect(Number.isNaN(Date.parse(String(row?.[LOADED_AT])))).toBe(false);
      });

      it('a replace that fails leaves the old table whole, and says it will fail again', async () => {
        await loader.replaceTable(table, [{ id: 1 }, { id: 2 }]);
        const error = await rejection(loader.replaceTable(table, harness.unloadable));
        expect(error.retryable).toBe(false);
        expect(await harness.columns(loader, table)).toEqual(['id', LOADED_AT]);
        expect(await rows()).toEqual([{ id: 1 }, { id: 2 }]);
      });

      it('a read during a replace sees the old table or the new one, never a mix', async () => {
        await loader.replaceTable(table, [{ id: 1 }, { id: 2 }]);
        const replacing = loader.replaceTable(table, [{ id: 3 }, { id: 4 }, { id: 5 }]);
        const during = harness.rows(loader, table);
        await replacing;
        expect([
          [{ id: 1 }, { id: 2 }],
          [{ id: 3 }, { id: 4 }, { id: 5 }],
        ]).toContainEqual(sorted((await during) ?? [], 'id'));
      });

      it('an empty replace empties an existing table and keeps its columns', async () => {
        await loader.replaceTable(table, [{ id: 1, name: 'pen' }]);
        expect(await loader.replaceTable(table, [])).toBe(0);
        expect(await rows()).toEqual([]);
        expect(await harness.columns(loader, table)).toEqual(['id', 'name', LOADED_AT]);
      });

      it('an empty replace of a table that does not exist creates nothing', async () => {
        expect(await loader.replaceTable(table, [])).toBe(0);
        expect(await harness.columns(loader, table)).toBeNull();
      });

      it('tables do not see each other’s records', async () => {
        const other = `${table}_other`;
        await loader.replaceTable(table, [{ id: 1 }]);
        await loader.replaceTable(other, [{ id: 2 }]);
        await loader.replaceTable(table, [{ id: 3 }]);
        expect(await rows()).toEqual([{ id: 3 }]);
        expect(await rows('id', other)).toEqual([{ id: 2 }]);
      });
    });

    describe('mergeRecords', () => {
      it('the first merge creates the table', async () => {
        expect(await loader.mergeRecords(table, [{ id: 1, name: 'pen' }], 'id')).toBe(1);
        expect(await harness.columns(loader, table)).toEqual(['id', 'name', LOADED_AT]);
        expect(await rows()).toEqual([{ id: 1, name: 'pen' }]);
      });

      it('a record whose key exists replaces that row; the rest are appended; other rows stay', async () => {
        await loader.mergeRecords(
          table,
          [
            { id: 1, name: 'pen' },
            { id: 2, name: 'ink' },
          ],
          'id',
        );
        const written = await loader.mergeRecords(
          table,
          [
            { id: 2, name: 'blue ink' },
            { id: 3, name: 'paper' },
          ],
          'id',
        );
        expect(written).toBe(2);
        expect(await rows()).toEqual([
          { id: 1, name: 'pen' },
          { id: 2, name: 'blue ink' },
          { id: 3, name: 'paper' },
        ]);
      });

      it('the same merge twice changes nothing the second time', async () => {
        const records = [
          { id: 1, name: 'pen' },
          { id: 2, name: 'ink' },
        ];
        await loader.mergeRecords(table, records, 'id');
        expect(await loader.mergeRecords(table, records, 'id')).toBe(2);
        expect(await rows()).toEqual(records);
      });

      it('upserts by a nested key such as data.id', async () => {
        await loader.mergeRecords(
          table,
          [{ data: { id: 'u1', name: 'Ann' } }, { data: { id: 'u2', name: 'Bo' } }],
          'data.id',
        );
        await loader.mergeRecords(table, [{ data: { id: 'u2', name: 'Bob' } }], 'data.id');
        expect(await rows('data.id')).toEqual([
          { data: { id: 'u1', name: 'Ann' } },
          { data: { id: 'u2', name: 'Bob' } },
        ]);
      });

      it('within one merge the last record with a key wins, and counts once', async () => {
        const written = await loader.mergeRecords(
          table,
          [
            { id: 1, name: 'first' },
            { id: 1, name: 'second' },
          ],
          'id',
        );
        expect(written).toBe(1);
        expect(await rows()).toEqual([{ id: 1, name: 'second' }]);
      });

      it('records without the key are appended, each time', async () => {
        await loader.mergeRecords(table, [{ id: 1, name: 'pen' }], 'id');
        expect(await loader.mergeRecords(table, [{ name: 'no key' }], 'id')).toBe(1);
        await loader.mergeRecords(table, [{ name: 'no key' }, { id: 1, name: 'blue pen' }], 'id');
        expect(await rows('name')).toEqual([
          { id: 1, name: 'blue pen' },
          { id: null, name: 'no key' },
          { id: null, name: 'no key' },
        ]);
      });

      it('a key that appears in a later merge becomes a column; older rows have NULL there', async () => {
        await loader.mergeRecords(table, [{ id: 1, name: 'pen' }], 'id');
        await loader.mergeRecords(table, [{ id: 2, name: 'ink', color: 'blue' }], 'id');
        expect(await rows()).toEqual([
          { id: 1, name: 'pen', color: null },
          { id: 2, name: 'ink', color: 'blue' },
        ]);
      });

      it('a key missing from a later merge is NULL in its rows, and its column stays', async () => {
        await loader.mergeRecords(table, [{ id: 1, name: 'pen', color: 'red' }], 'id');
        await loader.mergeRecords(table, [{ id: 2, name: 'ink' }], 'id');
        expect(await harness.columns(loader, table)).toEqual(['id', 'name', 'color', LOADED_AT]);
        expect(await rows()).toEqual([
          { id: 1, name: 'pen', color: 'red' },
          { id: 2, name: 'ink', color: null },
        ]);
      });

      it('a column whose values change type is widened so the merge still succeeds', async () => {
        await loader.mergeRecords(table, [{ id: 1, size: 42 }], 'id');
        await loader.mergeRecords(table, [{ id: 2, size: 'XL' }], 'id');
        expect(await rows()).toEqual([
          { id: 1, size: '42' },
          { id: 2, size: 'XL' },
        ]);
      });

      it('the load time is refreshed on merged rows only', async () => {
        await loader.mergeRecords(table, [{ id: 1 }, { id: 2 }], 'id');
        const loadedAt = async (): Promise<unknown[]> =>
          ((await harness.rows(loader, table)) ?? [])
            .sort((a, b) => Number(a['id']) - Number(b['id']))
            .map((row) => row[LOADED_AT]);
        const before = await loadedAt();
        await loader.mergeRecords(table, [{ id: 2 }], 'id');
        const after = await loadedAt();
        expect(after[0]).toEqual(before[0]);
        expect(Date.parse(String(after[1])) >= Date.parse(String(before[1]))).toBe(true);
      });

      it('an empty merge writes nothing and creates nothing', async () => {
        expect(await loader.mergeRecords(table, [], 'id')).toBe(0);
        expect(await harness.columns(loader, table)).toBeNull();
      });

      it('an empty merge into an existing table leaves it as it was', async () => {
        await loader.mergeRecords(table, [{ id: 1, name: 'pen' }], 'id');
        expect(await loader.mergeRecords(table, [], 'id')).toBe(0);
        expect(await rows()).toEqual([{ id: 1, name: 'pen' }]);
      });

      it('a key that is not a dot path is refused, and never will be accepted', async () => {
        const error = await rejection(loader.mergeRecords(table, [{ id: 1 }], 'data..id'));
        expect(error).toMatchObject({ code: 'WAREHOUSE.INVALID_KEY', retryable: false });
        expect(await harness.columns(loader, table)).toBeNull();
      });

      it('a merge that fails leaves the table as it was', async () => {
        await loader.mergeRecords(table, [{ id: 1, name: 'pen' }], 'id');
        const error = await rejection(loader.mergeRecords(table, harness.unloadable, 'id'));
        expect(error.retryable).toBe(false);
        expect(await rows()).toEqual([{ id: 1, name: 'pen' }]);
      });
    });
  });
}
