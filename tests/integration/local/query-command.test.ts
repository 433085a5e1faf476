import { access, mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { DuckDbWarehouse } from '@changefeed/shared/adapters/local';
import { ControlServer, dataDirLayout, findControl, MAX_QUERY_TIMEOUT_MS } from '@changefeed/pipeline';
import { changeRow } from '../../contract/row-sink.contract';
import { cliIn } from '../../e2e/e2e-support';

/** Never finishes in a test's lifetime: 10^13 rows joined. */
const ENDLESS = 'SELECT count(*) AS n FROM range(100000000) a, range(100000) b WHERE a.range + b.range = 7';

let dir: string;

beforeEach(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'changefeed-query-command-'));
});

afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

function query(dataDir: string, ...args: string[]) {
  return cliIn(dir, ['query', ...args, '--data-dir', dataDir]);
}

async function exists(file: string): Promise<boolean> {
  return access(file).then(
    () => true,
    () => false,
  );
}

describe('changefeed query with no process running', () => {
  it('reads, refuses anything else with the rule, and times out with --timeout', async () => {
    const layout = dataDirLayout(dir, path.join(dir, 'data'));
    await mkdir(layout.dir, { recursive: true });
    const writer = await DuckDbWarehouse.open(layout.warehouseFile);
    await writer.appendChanges('carts', [changeRow('carts', { entity: 'e1', version: 1 })]);
    await writer.close();
    const copied = path.join(dir, 'copied.csv');

    const read = await query(layout.dir, 'select entity_id from carts_current', '--json');
    const copy = await query(layout.dir, `COPY carts_changes TO '${copied}'`);
    const file = await query(layout.dir, "select * from read_csv('/etc/passwd')");
    const slow = await query(layout.dir, ENDLESS, '--timeout', '200');

    expect(read).toMatchObject({ code: 0, stdout: '{"entity_id":"e1"}\n' });
    expect(copy.code).toBe(1);
    expect(copy.stderr).toContain('Query refused: it is not a SELECT');
    expect(await exists(copied)).toBe(false);
    expect(file.code).toBe(1);
    expect(file.stderr).toContain('read_csv()');
    expect(slow.code).toBe(1);
    expect(slow.stderr).toContain('interrupted after 200 ms');
  });

  it('a --timeout that is not a whole number of milliseconds exits 2', async () => {
    const r = await query(path.join(dir, 'data'), 'select 1', '--timeout', '1.5s');

    expect(r.code).toBe(2);
    expect(r.stderr).toContain('--timeout must be a whole number');
  });
});

describe('changefeed query through the running process', () => {
  let warehouse: DuckDbWarehouse;
  let control: ControlServer;
  let dataDir: string;
  let version = 0;
  const append = (): Promise<void> =>
    warehouse.appendChanges('carts', [changeRow('carts', { entity: 'e1', version: ++version })]);

  beforeEach(async () => {
    dataDir = path.join(dir, 'running');
    await mkdir(dataDir, { recursive: true });
    warehouse = await DuckDbWarehouse.open(dataDirLayout(dir, dataDir).warehouseFile);
    // Wired as `changefeed run` wires it.
    control = await ControlServer.start(dataDir, (sql, timeoutMs, signal) =>
      warehouse.userQuery(sql, { timeoutMs, signal }),
    );
    await append();
  });

  afterEach(async () => {
    await control.close();
    await warehouse.close();
  });

  it('refuses BEGIN, SET and DROP with the rule, and appends keep landing', async () => {
    for (const sql of ['BEGIN TRANSACTION', 'SET threads = 1', 'DROP TABLE carts_changes', 'SELECT 1; SELECT 2']) {
      const r = await query(dataDir, sql);

      expect(r.code).toBe(1);
      expect(r.stderr).toContain('Query refused');
      await append();
    }
    const after = await query(dataDir, 'select version from carts_current', '--json');
    expect(after).toMatchObject({ code: 0, stdout: `{"version":${version}}\n` });
  });

  it('interrupts a long SELECT after --timeout while appends go on', async () => {
    const slow = query(dataDir, ENDLESS, '--timeout', '300');
    await append();
    await append();

    const r = await slow;
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('interrupted after 300 ms');
    expect(await warehouse.query('SELECT version FROM carts_current')).toEqual([{ version }]);
  });

  it('answers 400 to a timeout outside 1..MAX_QUERY_TIMEOUT_MS', async () => {
    const info = await findControl(dataDir);
    if (info === undefined) throw new Error('the control file is missing');

    for (const timeoutMs of [0, MAX_QUERY_TIMEOUT_MS + 1, 'soon']) {
      const response = await fetch(`${info.url}/query`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${info.token}` },
        body: JSON.stringify({ sql: 'select 1', timeoutMs }),
      });
      expect(response.status).toBe(400);
    }
  });
});
