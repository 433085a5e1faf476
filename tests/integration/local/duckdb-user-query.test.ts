import { access, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { DuckDbWarehouse } from '@changefeed/shared/adapters/local';
import { AppError } from '@changefeed/shared/errors';
import { changeRow } from '../../contract/row-sink.contract';

let dir: string;
let fileCount = 0;

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'changefeed-user-query-test-'));
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

function newFile(name = 'warehouse'): string {
  return path.join(dir, `${name}-${++fileCount}.duckdb`);
}

async function rejection(promise: Promise<unknown>): Promise<AppError> {
  const error: unknown = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(AppError);
  return error as AppError;
}

async function exists(file: string): Promise<boolean> {
  return access(file).then(
    () => true,
    () => false,
  );
}

/** Never finishes in a test's lifetime: 10^13 rows joined. */
const ENDLESS = 'SELECT count(*) AS n FROM range(100000000) a, range(100000) b WHERE a.range + b.range = 7';

/** Statements a user may not run, each with the words its refusal must contain. */
function refusedStatements(target: string): [string, string][] {
  return [
    ['BEGIN TRANSACTION', 'not a SELECT'],
    ['SET enable_external_access = false', 'not a SELECT'],
    ['SET threads = 1', 'not a SELECT'],
    [`COPY carts_changes TO '${target}'`, 'not a SELECT'],
    [`ATTACH '${target}.duckdb' AS other`, 'not a SELECT'],
    ['DROP TABLE carts_changes', 'not a SELECT'],
    ['DELETE FROM carts_current', 'not a SELECT'],
    ['CREATE TABLE x AS SELECT 1', 'not a SELECT'],
    ['INSTALL httpfs', 'not a SELECT'],
    ['LOAD httpfs', 'not a SELECT'],
    [`EXPORT DATABASE '${target}-export'`, 'not a SELECT'],
    ['CHECKPOINT', 'not a SELECT'],
    ["PRAGMA table_info('carts_changes')", 'not a SELECT'],
    ['CALL pragma_version()', 'not a SELECT'],
    ['SELECT 1; DROP TABLE carts_changes', '2 statements'],
    ['SELECT 1; SELECT 2', '2 statements'],
    ["SELECT * FROM read_csv('/etc/passwd')", 'read_csv()'],
    ["SELECT * FROM read_text('/etc/passwd')", 'read_text()'],
    ["SELECT * FROM read_blob('/etc/passwd')", 'read_blob()'],
    ["SELECT * FROM glob('/etc/*')", 'glob()'],
    [
      "SELECT * FROM carts_current WHERE entity_id IN (SELECT column0 FROM read_csv_auto('/etc/passwd'))",
      'read_csv_auto()',
    ],
    ["SELECT * FROM query('SELECT * FROM read_csv(''/etc/passwd'')')", 'query()'],
    [`SELECT * FROM '${target}.csv'`, 'names a file'],
  ];
}

describe('DuckDbWarehouse.userQuery while the pipeline appends', () => {
  let warehouse: DuckDbWarehouse;
  let version = 0;
  const append = (): Promise<void> =>
    warehouse.appendChanges('carts', [changeRow('carts', { entity: 'e1', version: ++version })]);

  beforeAll(async () => {
    warehouse = await DuckDbWarehouse.open(newFile());
    await append();
  });

  afterAll(async () => {
    await warehouse.close();
  });

  it.each(refusedStatements(path.join(tmpdir(), 'changefeed-user-query-must-not-exist')))(
    'refuses %s with QUERY.REFUSED naming the rule, and the next append lands',
    async (sql, words) => {
      const error = await rejection(warehouse.userQuery(sql));

      expect(error).toMatchObject({ code: 'QUERY.REFUSED', retryable: false });
      expect(error.message).toContain(words);
      expect(error.message).toContain('Allowed: one statement that reads the warehouse');
      await append();
      expect(await warehouse.query('SELECT version FROM carts_current')).toEqual([{ version }]);
    },
  );

  it('a refused COPY, ATTACH or EXPORT writes no file', async () => {
    const target = path.join(dir, 'copied');
    for (const [sql] of refusedStatements(target)) await warehouse.userQuery(sql).catch(() => undefined);

    expect(await exists(target)).toBe(false);
    expect(await exists(`${target}.duckdb`)).toBe(false);
    expect(await exists(`${target}-export`)).toBe(false);
  });

  it('a file named as a table is refused even when it exists', async () => {
    const csv = path.join(dir, 'secret.csv');
    await writeFile(csv, 'a,b\n1,2\n');

    expect(await rejection(warehouse.userQuery(`SELECT * FROM '${csv}'`))).toMatchObject({ code: 'QUERY.REFUSED' });
    expect(await rejection(warehouse.userQuery(`FROM read_csv('${csv}')`))).toMatchObject({ code: 'QUERY.REFUSED' });
  });

  it('reads what the pipeline committed, with DESCRIBE, SHOW, SUMMARIZE, WITH, VALUES and range()', async () => {
    await append();

    expect(await warehouse.userQuery('SELECT entity_id, version FROM carts_current')).toEqual([
      { entity_id: 'e1', version },
    ]);
    expect((await warehouse.userQuery('DESCRIBE carts_current')).map((c) => c['column_name'])).toContain('entity_id');
    expect((await warehouse.userQuery('SHOW TABLES')).map((t) => t['name'])).toContain('carts_changes');
    expect(await warehouse.userQuery('SUMMARIZE carts_changes')).not.toHaveLength(0);
    expect(await warehouse.userQuery('WITH x AS (FROM range(3)) SELECT count(*)::INTEGER AS n FROM x')).toEqual([
      { n: 3 },
    ]);
    expect(await warehouse.userQuery('VALUES (1)')).toEqual([{ col0: 1 }]);
  });

  it('a SQL error is WAREHOUSE.QUERY_FAILED and leaves appends working', async () => {
    expect(await rejection(warehouse.userQuery('SELECT * FROM no_such_table'))).toMatchObject({
      code: 'WAREHOUSE.QUERY_FAILED',
      retryable: false,
    });
    expect(await rejection(warehouse.userQuery('SELEC 1'))).toMatchObject({ code: 'WAREHOUSE.QUERY_FAILED' });
    await append();
  });

  it('an append completes while a long SELECT runs; cancelling interrupts the SELECT', async () => {
    const asker = new AbortController();
    let settled = false;
    const long = warehouse.userQuery(ENDLESS, { timeoutMs: 3_600_000, signal: asker.signal }).finally(() => {
      settled = true;
    });

    await append();
    await append();
    expect(await warehouse.query('SELECT version FROM carts_current')).toEqual([{ version }]);
    expect(settled).toBe(false);

    asker.abort();
    expect(await rejection(long)).toMatchObject({ code: 'QUERY.CANCELLED' });
  });

  it('a SELECT running past its timeout is interrupted with QUERY.TIMEOUT, and appends go on', async () => {
    const error = await rejection(warehouse.userQuery(ENDLESS, { timeoutMs: 200 }));

    expect(error).toMatchObject({ code: 'QUERY.TIMEOUT', retryable: false });
    expect(error.message).toContain('200 ms');
    await append();
    expect(await warehouse.query('SELECT version FROM carts_current')).toEqual([{ version }]);
  });

  it('DuckDB itself confines the running warehouse to its files, and reference loads still work', async () => {
    const copied = path.join(dir, 'writer-copy.csv');

    expect((await rejection(warehouse.query("SELECT * FROM read_csv('/etc/passwd')"))).message).toContain(
      'disabled by configuration',
    );
    expect((await rejection(warehouse.query(`COPY carts_changes TO '${copied}'`))).message).toContain(
      'disabled by configuration',
    );
    expect((await rejection(warehouse.query('SET enable_external_access = true'))).message).toContain('locked');
    expect(await exists(copied)).toBe(false);
    expect(await warehouse.replaceTable('users', [{ id: 1 }, { id: 2 }])).toBe(2);
    expect(await warehouse.mergeRecords('users', [{ id: 2, name: 'b' }], 'id')).toBe(1);
    expect(await warehouse.userQuery('SELECT id, name FROM users ORDER BY id')).toEqual([
      { id: 1, name: null },
      { id: 2, name: 'b' },
    ]);
    await append();
  });

  it('a user BEGIN cannot leave a transaction open for later appends', async () => {
    await warehouse.userQuery('BEGIN TRANSACTION').catch(() => undefined);
    await warehouse.userQuery('SELECT * FROM no_such_table').catch(() => undefined);

    await append();
    await append();
    expect(await warehouse.query('SELECT count(*)::INTEGER AS n FROM carts_changes')).toEqual([{ n: version }]);
  });
});

it('close() interrupts a running user query, then closes', async () => {
  const warehouse = await DuckDbWarehouse.open(newFile());
  const long = warehouse.userQuery(ENDLESS, { timeoutMs: 3_600_000 });

  await warehouse.close();

  expect(await rejection(long)).toMatchObject({ code: 'QUERY.CANCELLED' });
  expect(await rejection(warehouse.userQuery('SELECT 1'))).toMatchObject({ code: 'WAREHOUSE.CLOSED' });
});

describe('DuckDbWarehouse.userQuery with no process running (read-only open)', () => {
  let file: string;
  let reader: DuckDbWarehouse;

  beforeAll(async () => {
    file = newFile('read-only');
    const writer = await DuckDbWarehouse.open(file);
    await writer.appendChanges('carts', [changeRow('carts', { entity: 'e1', version: 1 })]);
    await writer.close();
    reader = await DuckDbWarehouse.open(file, { readOnly: true });
  });

  afterAll(async () => {
    await reader.close();
  });

  it.each(refusedStatements(path.join(tmpdir(), 'changefeed-user-query-must-not-exist')))(
    'refuses %s with QUERY.REFUSED',
    async (sql, words) => {
      const error = await rejection(reader.userQuery(sql));

      expect(error).toMatchObject({ code: 'QUERY.REFUSED' });
      expect(error.message).toContain(words);
    },
  );

  it('reads the warehouse', async () => {
    expect(await reader.userQuery('SELECT entity_id, version FROM carts_current')).toEqual([
      { entity_id: 'e1', version: 1 },
    ]);
  });

  it('times out a long SELECT', async () => {
    expect(await rejection(reader.userQuery(ENDLESS, { timeoutMs: 200 }))).toMatchObject({ code: 'QUERY.TIMEOUT' });
  });

  it('DuckDB itself refuses files and settings on the read-only open, whatever the SQL', async () => {
    const copied = path.join(dir, 'read-only-copy.csv');

    expect((await rejection(reader.query("SELECT * FROM read_csv('/etc/passwd')"))).message).toContain(
      'disabled by configuration',
    );
    expect((await rejection(reader.query(`COPY carts_changes TO '${copied}'`))).message).toContain(
      'disabled by configuration',
    );
    expect((await rejection(reader.query('SET enable_external_access = true'))).message).toContain('locked');
    expect(await exists(copied)).toBe(false);
  });
});
