import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { DuckDbWarehouse } from '@changefeed/shared/adapters/local';
import { AppError } from '@changefeed/shared/errors';
import type { RunRecord } from '@changefeed/shared/ports';
import { changeRow, rowSinkContract, type CurrentRow } from '../../contract/row-sink.contract';

let dir: string;
let fileCount = 0;

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'changefeed-duckdb-test-'));
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

function newFile(): string {
  return path.join(dir, `warehouse-${++fileCount}.duckdb`);
}

async function rejection(promise: Promise<unknown>): Promise<AppError> {
  const error: unknown = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(AppError);
  return error as AppError;
}

rowSinkContract(
  'DuckDbWarehouse',
  () => DuckDbWarehouse.open(newFile()),
  async (warehouse, table) =>
    (await warehouse.query(`SELECT entity_id, version, data, event_id FROM "${table}_current" ORDER BY entity_id`)).map(
      (r) => r as unknown as CurrentRow,
    ),
);

describe('DuckDbWarehouse', () => {
  let warehouse: DuckDbWarehouse;
  let file: string;

  beforeEach(async () => {
    file = newFile();
    warehouse = await DuckDbWarehouse.open(file);
  });

  afterEach(() => warehouse.close());

  const count = async (table: string): Promise<unknown> =>
    (await warehouse.query(`SELECT count(*) AS n FROM "${table}"`))[0]?.['n'];

  describe('appendChanges', () => {
    it('a batch with one row that can never be stored writes nothing, even rows flushed before it', async () => {
      await warehouse.appendChanges('carts', [changeRow('carts', { entity: 'kept', version: 1 })]);
      // More rows than one appender chunk (2048), so earlier rows reach the table before the bad one.
      const rows = Array.from({ length: 3_000 }, (_, i) => changeRow('carts', { entity: `e${i}`, version: 1 }));
      rows[2_999] = { ...rows[2_999]!, data: '{"truncated":' };

      const error = await rejection(warehouse.appendChanges('carts', rows));

      expect(error).toMatchObject({ code: 'WAREHOUSE.INVALID_ROW', retryable: false });
      expect(error.message).toContain('carts_changes row 2999');
      expect(await count('carts_changes')).toBe(1);
    });

    it('a version that is not an integer is refused before anything is written', async () => {
      const rows = [changeRow('carts', { entity: 'a', version: 1 }), changeRow('carts', { entity: 'b', version: 1.5 })];
      expect(await rejection(warehouse.appendChanges('carts', rows))).toMatchObject({
        code: 'WAREHOUSE.INVALID_ROW',
        retryable: false,
      });
      expect(await warehouse.query(`SELECT count(*) AS n FROM "carts_changes"`)).toEqual([{ n: 0 }]);
    });

    it('_changes keeps every column as received', async () => {
      const row = { ...changeRow('carts', { entity: 'a', version: 2 }), delivery_attempt: 3 };
      await warehouse.appendChanges('carts', [row]);
      expect(await warehouse.query('SELECT * FROM carts_changes')).toEqual([
        {
          event_id: row.event_id,
          event_type: 'updated',
          source: 'carts',
          entity_id: 'a',
          version: 2,
          data: { id: 'a', v: 2 },
          event_time: row.event_time.toISOString(),
          publish_time: row.publish_time.toISOString(),
          ingested_at: row.ingested_at.toISOString(),
          delivery_attempt: 3,
          message_id: row.message_id,
        },
      ]);
    });

    it('_current has exactly the documented columns', async () => {
      const row = changeRow('carts', { entity: 'a', version: 1 });
      await warehouse.appendChanges('carts', [row]);
      expect(await warehouse.query('SELECT * FROM carts_current')).toEqual([
        {
          entity_id: 'a',
          version: 1,
          data: { id: 'a', v: 1 },
          event_id: row.event_id,
          event_time: row.event_time.toISOString(),
          source: 'carts',
        },
      ]);
    });

    it('concurrent appends, run records, loads and queries all succeed without interleaving', async () => {
      const work: Promise<unknown>[] = [];
      for (let i = 0; i < 20; i++) {
        work.push(warehouse.appendChanges('carts', [changeRow('carts', { entity: `e${i}`, version: 1 })]));
        work.push(warehouse.recordRun(runRecord(`run-${i}`)));
        work.push(warehouse.replaceTable('products', [{ id: i }]));
        work.push(warehouse.query('SELECT 1 AS one'));
      }
      await Promise.all(work);
      expect(await count('carts_changes')).toBe(20);
      expect(await count('_runs')).toBe(20);
      expect(await warehouse.query('SELECT id FROM products')).toEqual([{ id: 19 }]);
    });
  });

  describe('appendRejected and recordRun', () => {
    it('a rejected message is kept with its reason and payload', async () => {
      const receivedAt = new Date('2024-06-01T10:00:00.000Z');
      await warehouse.appendRejected([
        {
          message_id: null,
          subscription: 'projects/p/subscriptions/s',
          reason: 'bad',
          payload: 'x',
          received_at: receivedAt,
        },
      ]);
      expect(await warehouse.query('SELECT * FROM _rejected')).toEqual([
        {
          message_id: null,
          subscription: 'projects/p/subscriptions/s',
          reason: 'bad',
          payload: 'x',
          received_at: receivedAt.toISOString(),
        },
      ]);
    });

    it('a run record is stored with its details as JSON', async () => {
      await warehouse.recordRun({ ...runRecord('run-1'), status: 'failed', error: 'boom' });
      expect(await warehouse.query('SELECT * FROM _runs')).toEqual([
        {
          run_id: 'run-1',
          source: 'carts',
          kind: 'poll',
          started_at: '2024-06-01T00:00:00.000Z',
          ended_at: '2024-06-01T00:00:01.500Z',
          rows_read: 10,
          rows_written: 7,
          status: 'failed',
          error: 'boom',
          details: { created: 3, updated: 4 },
        },
      ]);
    });
  });

  describe('replaceTable', () => {
    it('replaces the whole table; columns come from every record, missing keys are NULL', async () => {
      await warehouse.replaceTable('products', [{ id: 1, old: true }]);
      const written = await warehouse.replaceTable('products', [
        { id: 1, name: 'pen' },
        { id: 2, tags: ['a', 'b'], dims: { w: 1.5 } },
      ]);
      expect(written).toBe(2);
      const rows = await warehouse.query('SELECT * EXCLUDE (_loaded_at) FROM products ORDER BY id');
      expect(rows).toEqual([
        { id: 1, name: 'pen', tags: null, dims: null },
        { id: 2, name: null, tags: ['a', 'b'], dims: { w: 1.5 } },
      ]);
    });

    it('every row gets the load time, replacing a record’s own _loaded_at', async () => {
      await warehouse.replaceTable('products', [{ id: 1, _loaded_at: 'from the API' }]);
      const [row] = await warehouse.query('SELECT _loaded_at FROM products');
      expect(Number.isNaN(Date.parse(String(row?.['_loaded_at'])))).toBe(false);
    });

    it('a failed replace leaves the old table whole', async () => {
      await warehouse.replaceTable('products', [{ id: 1 }, { id: 2 }]);
      // Records without a single key give read_json no columns to infer.
      const error = await rejection(warehouse.replaceTable('products', [{}, {}]));
      expect(error).toMatchObject({ code: 'WAREHOUSE.WRITE_FAILED', retryable: false });
      expect(await warehouse.query('SELECT id FROM products ORDER BY id')).toEqual([{ id: 1 }, { id: 2 }]);
    });

    it('a query queued during a replace sees the old table or the new one, never a mix', async () => {
      await warehouse.replaceTable('products', [{ id: 1 }, { id: 2 }]);
      const replacing = warehouse.replaceTable('products', [{ id: 3 }, { id: 4 }, { id: 5 }]);
      const during = warehouse.query('SELECT count(*) AS n FROM products');
      await replacing;
      expect([[{ n: 2 }], [{ n: 3 }]]).toContainEqual(await during);
    });

    it('loads apply in call order, even when an earlier one has more to write first', async () => {
      const big = Array.from({ length: 50_000 }, (_, i) => ({ id: i, name: `p${i}` }));
      const first = warehouse.replaceTable('products', big);
      const second = warehouse.replaceTable('products', [{ id: -1, name: 'last call' }]);
      await Promise.all([first, second]);
      expect(await warehouse.query('SELECT id, name FROM products')).toEqual([{ id: -1, name: 'last call' }]);
    });

    it('an empty replace empties an existing table and keeps its columns', async () => {
      await warehouse.replaceTable('products', [{ id: 1, name: 'pen' }]);
      expect(await warehouse.replaceTable('products', [])).toBe(0);
      expect(await count('products')).toBe(0);
      expect((await warehouse.query('DESCRIBE products')).map((c) => c['column_name'])).toEqual([
        'id',
        'name',
        '_loaded_at',
      ]);
    });

    it('an empty replace of a table that does not exist creates nothing', async () => {
      expect(await warehouse.replaceTable('products', [])).toBe(0);
      expect(await warehouse.query(`SELECT table_name FROM duckdb_tables() WHERE table_name = 'products'`)).toEqual([]);
    });

    it('records wider than DuckDB’s default 16 MiB object limit still load', async () => {
      const big = 'x'.repeat(17 * 1024 * 1024);
      await warehouse.replaceTable('blobs', [{ id: 1, big }]);
      expect(await warehouse.query('SELECT length(big) AS n FROM blobs')).toEqual([{ n: big.length }]);
    });
  });

  describe('mergeRecords', () => {
    it('the first merge creates the table', async () => {
      expect(await warehouse.mergeRecords('products', [{ id: 1, name: 'pen' }], 'id')).toBe(1);
      expect(await warehouse.query('SELECT id, name FROM products')).toEqual([{ id: 1, name: 'pen' }]);
    });

    it('replaces rows whose key exists and appends the rest', async () => {
      await warehouse.mergeRecords(
        'products',
        [
          { id: 1, name: 'pen' },
          { id: 2, name: 'ink' },
        ],
        'id',
      );
      const written = await warehouse.mergeRecords(
        'products',
        [
          { id: 2, name: 'blue ink' },
          { id: 3, name: 'paper' },
        ],
        'id',
      );
      expect(written).toBe(2);
      expect(await warehouse.query('SELECT id, name FROM products ORDER BY id')).toEqual([
        { id: 1, name: 'pen' },
        { id: 2, name: 'blue ink' },
        { id: 3, name: 'paper' },
      ]);
    });

    it('upserts by a nested key such as data.id', async () => {
      await warehouse.mergeRecords(
        'users',
        [{ data: { id: 'u1', name: 'Ann' } }, { data: { id: 'u2', name: 'Bo' } }],
        'data.id',
      );
      await warehouse.mergeRecords('users', [{ data: { id: 'u2', name: 'Bob' } }], 'data.id');
      expect(await warehouse.query(`SELECT data FROM users ORDER BY data.id`)).toEqual([
        { data: { id: 'u1', name: 'Ann' } },
        { data: { id: 'u2', name: 'Bob' } },
      ]);
    });

    it('a column that appears in a later merge is added; older rows have NULL there', async () => {
      await warehouse.mergeRecords('products', [{ id: 1, name: 'pen' }], 'id');
      await warehouse.mergeRecords('products', [{ id: 2, name: 'ink', color: 'blue' }], 'id');
      expect(await warehouse.query('SELECT id, name, color FROM products ORDER BY id')).toEqual([
        { id: 1, name: 'pen', color: null },
        { id: 2, name: 'ink', color: 'blue' },
      ]);
    });

    it('a nested object gaining a field is widened, not cut', async () => {
      await warehouse.mergeRecords('users', [{ id: 1, address: { city: 'Oslo' } }], 'id');
      await warehouse.mergeRecords('users', [{ id: 2, address: { city: 'Rome', zip: '00100' } }], 'id');
      expect(await warehouse.query('SELECT address FROM users ORDER BY id')).toEqual([
        { address: { city: 'Oslo', zip: null } },
        { address: { city: 'Rome', zip: '00100' } },
      ]);
    });

    it('a column whose values change type is widened so the merge still succeeds', async () => {
      await warehouse.mergeRecords('products', [{ id: 1, size: 42 }], 'id');
      await warehouse.mergeRecords('products', [{ id: 2, size: 'XL' }], 'id');
      expect(await warehouse.query('SELECT id, size FROM products ORDER BY id')).toEqual([
        { id: 1, size: '42' },
        { id: 2, size: 'XL' },
      ]);
    });

    it('within one merge the last record with a key wins', async () => {
      const written = await warehouse.mergeRecords(
        'products',
        [
          { id: 1, name: 'first' },
          { id: 1, name: 'second' },
        ],
        'id',
      );
      expect(written).toBe(1);
      expect(await warehouse.query('SELECT name FROM products')).toEqual([{ name: 'second' }]);
    });

    it('an empty merge writes nothing and creates nothing', async () => {
      expect(await warehouse.mergeRecords('products', [], 'id')).toBe(0);
      expect(await warehouse.query(`SELECT table_name FROM duckdb_tables() WHERE table_name = 'products'`)).toEqual([]);
    });

    it('the load time is refreshed on merged rows only', async () => {
      await warehouse.mergeRecords('products', [{ id: 1 }, { id: 2 }], 'id');
      const before = await warehouse.query('SELECT id, _loaded_at FROM products ORDER BY id');
      await warehouse.mergeRecords('products', [{ id: 2 }], 'id');
      const after = await warehouse.query('SELECT id, _loaded_at FROM products ORDER BY id');
      expect(after[0]).toEqual(before[0]);
      expect(String(after[1]?.['_loaded_at']) >= String(before[1]?.['_loaded_at'])).toBe(true);
    });
  });

  describe('query', () => {
    it('returns JSON-friendly values', async () => {
      const [row] = await warehouse.query(`
        SELECT 42::BIGINT AS small,
               9007199254740993::BIGINT AS big,
               170141183460469231731687303715884105727::HUGEINT AS huge,
               1.25::DECIMAL(5, 2) AS price,
               TIMESTAMPTZ '2024-06-01 12:30:00.250+00' AS tz,
               TIMESTAMP '2024-06-01 12:30:00' AS naive,
               DATE '2024-06-01' AS day,
               '{"a":[1,2]}'::JSON AS doc,
               [1, 2]::BIGINT[] AS list,
               {'x': 1::BIGINT, 'y': 'z'} AS struct,
               NULL AS nothing,
               true AS yes,
               'infinity'::TIMESTAMP AS forever`);
      expect(row).toEqual({
        small: 42,
        big: '9007199254740993',
        huge: '170141183460469231731687303715884105727',
        price: 1.25,
        tz: '2024-06-01T12:30:00.250Z',
        naive: '2024-06-01T12:30:00.000Z',
        day: '2024-06-01',
        doc: { a: [1, 2] },
        list: [1, 2],
        struct: { x: 1, y: 'z' },
        nothing: null,
        yes: true,
        forever: 'infinity',
      });
    });

    it('a query that can never run is a non-retryable WAREHOUSE.QUERY_FAILED', async () => {
      expect(await rejection(warehouse.query('SELECT * FROM no_such_table'))).toMatchObject({
        code: 'WAREHOUSE.QUERY_FAILED',
        retryable: false,
      });
    });
  });

  describe('the file', () => {
    it('after close and reopen the data is there', async () => {
      await warehouse.appendChanges('carts', [changeRow('carts', { entity: 'a', version: 1 })]);
      await warehouse.replaceTable('products', [{ id: 1 }]);
      await warehouse.close();
      warehouse = await DuckDbWarehouse.open(file);
      expect(await warehouse.query('SELECT entity_id FROM carts_current')).toEqual([{ entity_id: 'a' }]);
      expect(await warehouse.query('SELECT id FROM products')).toEqual([{ id: 1 }]);
      await warehouse.appendChanges('carts', [changeRow('carts', { entity: 'b', version: 1 })]);
      expect(await count('carts_changes')).toBe(2);
    });

    it('a read-only open can query but every write is refused', async () => {
      await warehouse.appendChanges('carts', [changeRow('carts', { entity: 'a', version: 1 })]);
      await warehouse.close();
      warehouse = await DuckDbWarehouse.open(file, { readOnly: true });
      expect(await warehouse.query('SELECT entity_id FROM carts_current')).toEqual([{ entity_id: 'a' }]);
      const refused = [
        warehouse.appendChanges('carts', [changeRow('carts', { entity: 'b', version: 1 })]),
        warehouse.appendRejected([]),
        warehouse.recordRun(runRecord('run-1')),
        warehouse.replaceTable('products', [{ id: 1 }]),
        warehouse.mergeRecords('products', [{ id: 1 }], 'id'),
      ];
      for (const write of refused) {
        expect(await rejection(write)).toMatchObject({ code: 'WAREHOUSE.READ_ONLY', retryable: false });
      }
    });

    it('a read-only open of a file that does not exist says nothing was loaded', async () => {
      const error = await rejection(DuckDbWarehouse.open(path.join(dir, 'missing.duckdb'), { readOnly: true }));
      expect(error).toMatchObject({ code: 'WAREHOUSE.NOT_FOUND', retryable: false });
    });

    it('a second open of the same file in this process is refused', async () => {
      const error = await rejection(DuckDbWarehouse.open(file, { readOnly: true }));
      expect(error.code).toBe('WAREHOUSE.LOCKED');
      expect(error.message).toContain(file);
    });

    it('of two concurrent opens of one file in this process, exactly one succeeds', async () => {
      const other = newFile();
      const results = await Promise.allSettled([DuckDbWarehouse.open(other), DuckDbWarehouse.open(other)]);
      const opened = results.filter((r) => r.status === 'fulfilled');
      expect(opened).toHaveLength(1);
      expect(results.find((r) => r.status === 'rejected')).toMatchObject({ reason: { code: 'WAREHOUSE.LOCKED' } });
      await Promise.all(opened.map((r) => r.value.close()));
    });

    it('opening a file another process holds names the file and the likely owner', async () => {
      await warehouse.close();
      const holder = await holdInAnotherProcess(file);
      try {
        const error = await rejection(DuckDbWarehouse.open(file));
        expect(error).toMatchObject({ code: 'WAREHOUSE.LOCKED', retryable: true });
        expect(error.message).toContain(file);
        expect(error.message).toContain('another changefeed process');
        expect(error.message).toContain(`PID ${holder.pid}`);
        expect((await rejection(DuckDbWarehouse.open(file, { readOnly: true }))).code).toBe('WAREHOUSE.LOCKED');
      } finally {
        await stop(holder);
      }
      warehouse = await DuckDbWarehouse.open(file);
    });

    it('after close every operation is refused and closing again is harmless', async () => {
      await warehouse.close();
      expect((await rejection(warehouse.query('SELECT 1'))).code).toBe('WAREHOUSE.CLOSED');
      await expect(warehouse.close()).resolves.toBeUndefined();
      warehouse = await DuckDbWarehouse.open(file);
    });
  });
});

function runRecord(runId: string): RunRecord {
  return {
    runId,
    source: 'carts',
    kind: 'poll',
    startedAt: new Date('2024-06-01T00:00:00.000Z'),
    endedAt: new Date('2024-06-01T00:00:01.500Z'),
    rowsRead: 10,
    rowsWritten: 7,
    status: 'succeeded',
    error: null,
    details: { created: 3, updated: 4 },
  };
}

/** A child process that opens `file` read-write and keeps it until killed. */
function holdInAnotherProcess(file: string): Promise<ChildProcess> {
  const script = `
    const { DuckDBInstance } = require(${JSON.stringify(require.resolve('@duckdb/node-api'))});
    DuckDBInstance.create(${JSON.stringify(file)}).then(() => { console.log('ready'); setInterval(() => {}, 1000); });
  `;
  const child = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (code) => reject(new Error(`holder exited early with ${code}`)));
    child.stdout?.on('data', (chunk: Buffer) => {
      if (chunk.toString().includes('ready')) resolve(child);
    });
  });
}

/** Resolves once the process has exited, and with it released its lock. */
function stop(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    child.once('exit', () => resolve());
    child.kill();
  });
}
