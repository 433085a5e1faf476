import { chmod, mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseConfig } from '@changefeed/shared/config';
import { changeToMessage } from '@changefeed/shared/events';
import { createSilentLogger } from '@changefeed/shared/log';
import { systemClock } from '@changefeed/shared/ports';
import { dataDirLayout, LocalPipeline } from '@changefeed/pipeline';
import { cartChange, pushBodyFor } from '../support/loader-fakes';
import { configYaml, sandbox } from './e2e-support';

/** The permission bits of `file`. */
async function modeOf(file: string): Promise<number> {
  return (await stat(file)).mode & 0o777;
}

describe('the local loader takes events only from its own bus', () => {
  let dir: string;
  let pipeline: LocalPipeline;
  let secretFile: string;

  beforeEach(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'changefeed-pushauth-'));
    const layout = dataDirLayout(dir, 'data');
    secretFile = layout.pushSecretFile;
    pipeline = await LocalPipeline.open({
      config: parseConfig(configYaml('http://127.0.0.1:9', '', 'push'), 'test.yaml'),
      layout,
      env: {},
      clock: systemClock,
      logger: createSilentLogger(),
    });
  });

  afterEach(async () => {
    await pipeline.close();
    await rm(dir, { recursive: true, force: true });
  });

  /** A forged `updated` of cart 1 at a version no real poll reaches, as any local process could send it. */
  function forgedBody(table = 'carts'): string {
    return JSON.stringify(pushBodyFor(cartChange(1, { table, version: 9_999_999_999 }), { messageId: 'forged-1' }));
  }

  async function push(headers: Record<string, string>, body = forgedBody()): Promise<Response> {
    return fetch(`${pipeline.loaderUrl}/pubsub/push`, { method: 'POST', headers, body });
  }

  async function landed(): Promise<{ changes: number; rejected: number }> {
    const tables = await pipeline.warehouse.query(
      "select table_name from information_schema.tables where table_name in ('carts_changes', '_rejected')",
    );
    const count = async (table: string): Promise<number> =>
      tables.some((t) => t['table_name'] === table)
        ? Number((await pipeline.warehouse.query(`select count(*) as n from ${table}`))[0]?.['n'])
        : 0;
    return { changes: await count('carts_changes'), rejected: await count('_rejected') };
  }

  it('a push without the secret, or with another one, is 401 and nothing lands', async () => {
    const none = await push({ 'content-type': 'application/json' });
    expect(none.status).toBe(401);
    expect(none.headers.get('www-authenticate')).toBe('Bearer');
    const wrong = await push({ 'content-type': 'application/json', authorization: 'Bearer not-the-secret' });
    expect(wrong.status).toBe(401);
    expect(await landed()).toEqual({ changes: 0, rejected: 0 });
  });

  it('the secret is in the data dir for its owner only, and with it a push lands', async () => {
    expect(await modeOf(secretFile)).toBe(0o600);
    const secret = (await readFile(secretFile, 'utf8')).trim();
    const ok = await push({ 'content-type': 'application/json', authorization: `Bearer ${secret}` });
    expect(ok.status).toBe(204);
    expect(await landed()).toEqual({ changes: 1, rejected: 0 });
  });

  it('a browser-shaped request (foreign Origin, no content type) is 403 even with the secret, and nothing lands', async () => {
    const secret = (await readFile(secretFile, 'utf8')).trim();
    const noCors = await push({ origin: 'https://evil.example', authorization: `Bearer ${secret}` });
    expect(noCors.status).toBe(403);
    const fetchMetadata = await push({ 'sec-fetch-site': 'cross-site', 'content-type': 'text/plain' });
    expect(fetchMetadata.status).toBe(403);
    expect(await landed()).toEqual({ changes: 0, rejected: 0 });
  });

  it('an authenticated push for a table no source writes goes to _rejected with the reason, and no table is made', async () => {
    const secret = (await readFile(secretFile, 'utf8')).trim();
    const res = await push(
      { 'content-type': 'application/json', authorization: `Bearer ${secret}` },
      forgedBody('evil'),
    );
    expect(res.status).toBe(204);
    const rejected = await pipeline.warehouse.query('select message_id, reason from _rejected');
    expect(rejected).toEqual([
      { message_id: 'forged-1', reason: 'table "evil" is not the table of any configured stream source' },
    ]);
    const made = await pipeline.warehouse.query(
      "select table_name from information_schema.tables where table_name like 'evil%'",
    );
    expect(made).toEqual([]);
  });

  it('its own bus delivers with the secret: a published event lands, one for an unknown table is rejected, none dead-lettered', async () => {
    const outcomes = await pipeline.bus.publish([
      changeToMessage(cartChange(2)),
      changeToMessage(cartChange(3, { table: 'evil' })),
    ]);
    expect(outcomes.every((o) => o.ok)).toBe(true);
    await pipeline.bus.waitUntilIdle();
    expect(pipeline.bus.stats().deadLettered).toBe(0);
    expect(await landed()).toEqual({ changes: 1, rejected: 1 });
  });
});

describe('the data directory', () => {
  it('is 0700 with every file in it 0600 after a run, also when an older run left it 0755 and 0644', async () => {
    const s = await sandbox({ carts: 3 });
    try {
      await mkdir(s.dataDir, { mode: 0o755 });
      await chmod(s.dataDir, 0o755);
      await writeFile(path.join(s.dataDir, 'changefeed.log'), '', { mode: 0o644 });
      await chmod(path.join(s.dataDir, 'changefeed.log'), 0o644);

      const run = await s.cli(['run', '--config', s.configFile, '--data-dir', s.dataDir, '--once']);
      expect(run.stderr).toBe('');
      expect(run.code).toBe(0);

      expect(await modeOf(s.dataDir)).toBe(0o700);
      const files = await readdir(s.dataDir);
      expect(files).toEqual(
        expect.arrayContaining(['bus.sqlite', 'state.sqlite', 'warehouse.duckdb', 'changefeed.log']),
      );
      const modes = Object.fromEntries(
        await Promise.all(files.map(async (f) => [f, await modeOf(path.join(s.dataDir, f))] as const)),
      );
      expect(modes).toEqual(Object.fromEntries(files.map((f) => [f, 0o600])));
    } finally {
      await s.close();
    }
  });
});
