import { createHash } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { DuckDbWarehouse } from '@changefeed/shared/adapters/local';
import { cliIn } from './e2e-support';

const MB = 1000 * 1000;
const MiB = 1024 * 1024;

/** A source API of our own: `GET /docs` answers `{"docs": [...]}`, each record `{id, blob}`. */
interface DocsApi {
  readonly url: string;
  /** Sets the records: id → the length of its blob of `x`s. */
  set(blobs: Readonly<Record<string, number>>): void;
  close(): Promise<void>;
}

async function startDocsApi(): Promise<DocsApi> {
  let body = Buffer.from('{"docs":[]}');
  const server: Server = createServer((req, res) => {
    if (req.url !== '/docs') {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': body.length }).end(body);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    set(blobs) {
      const records = Object.entries(blobs).map(([id, length]) => `{"id":"${id}","blob":"${'x'.repeat(length)}"}`);
      body = Buffer.from(`{"docs":[${records.join(',')}]}`);
    },
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

function configYaml(apiUrl: string, options: { delivery: 'push' | 'batch'; maxRecordBytes?: number }): string {
  return `backend: local
sources:
  - name: docs
    mode: stream
    request:
      url: ${apiUrl}/docs
      recordsPath: docs
      timeout: 60s
    idField: id
    table: docs
${options.maxRecordBytes === undefined ? '' : `    maxRecordBytes: ${options.maxRecordBytes}\n`}loader:
  port: 0
bus:
  delivery: ${options.delivery}
  minBackoff: 20ms
  maxBackoff: 100ms
`;
}

const md5 = (text: string): string => createHash('md5').update(text).digest('hex');

/**
 * Issue 18 item 3: a 13 MB record made a push body over loader.maxBodyBytes and was lost with exit 0.
 * Records over `payloads.inlineMaxBytes` now go by claim check, so every record up to
 * `sources[].maxRecordBytes` (100 MiB at most) lands whole, whichever way the bus delivers.
 */
describe('records larger than the bus carries', () => {
  let dir: string;
  let api: DocsApi;
  beforeEach(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'changefeed-large-'));
    api = await startDocsApi();
  });
  afterEach(async () => {
    await api.close();
    await rm(dir, { recursive: true, force: true });
  });

  async function changeCount(): Promise<number> {
    const warehouse = await DuckDbWarehouse.open(path.join(dir, 'data', 'warehouse.duckdb'), { readOnly: true });
    try {
      const [row] = await warehouse.query('SELECT count(*) AS n FROM docs_changes');
      return Number(row?.['n']);
    } finally {
      await warehouse.close();
    }
  }

  async function currentBlobs(): Promise<Record<string, unknown>[]> {
    const warehouse = await DuckDbWarehouse.open(path.join(dir, 'data', 'warehouse.duckdb'), { readOnly: true });
    try {
      return await warehouse.query(
        "SELECT entity_id, version, md5(json_extract_string(data, '$.blob')) AS blob_md5 FROM docs_current ORDER BY entity_id",
      );
    } finally {
      await warehouse.close();
    }
  }

  // The push path is the one that lost a 13 MB record; the 100 MB one is the documented limit.
  it.each([
    ['push', { a: 10, b: 13 * MB }],
    ['batch', { a: 10, b: 13 * MB, c: 100 * MiB - 100 }],
  ] as const)(
    'records over the inline limit land whole, next to a small one (bus.delivery: %s)',
    async (delivery, blobs) => {
      api.set(blobs);
      await writeFile(path.join(dir, 'changefeed.yaml'), configYaml(api.url, { delivery }));
      const run = await cliIn(dir, ['run', '--once', '--config', 'changefeed.yaml', '--data-dir', 'data']);
      expect(run.stdout).toMatch(/\nok\n?$/);
      expect(run.code).toBe(0);
      expect(await currentBlobs()).toEqual(
        Object.entries(blobs).map(([id, length]) => ({ entity_id: id, version: 1, blob_md5: md5('x'.repeat(length)) })),
      );
      // Each event stored once: nothing rejected, nothing retried into a second row.
      expect(await changeCount()).toBe(Object.keys(blobs).length);
    },
    300_000,
  );

  it('a record over sources[].maxRecordBytes fails the cycle naming the entity, and lands once the limit allows it', async () => {
    api.set({ small: 10, huge: 25 * MB });
    const config = path.join(dir, 'changefeed.yaml');
    await writeFile(config, configYaml(api.url, { delivery: 'batch', maxRecordBytes: 20 * MB }));
    const refused = await cliIn(dir, ['run', '--once', '--config', 'changefeed.yaml', '--data-dir', 'data']);
    expect(refused.code).toBe(1);
    expect(refused.stdout).toMatch(/FAILED/);
    expect(`${refused.stdout}${refused.stderr}`).toMatch(
      /entity "huge" is \d+ bytes as JSON, over sources\[\]\.maxRecordBytes/,
    );
    // Its neighbour is published and committed; the huge one is not in the warehouse, nor in the snapshot.
    expect((await currentBlobs()).map((r) => r['entity_id'])).toEqual(['small']);

    await writeFile(config, configYaml(api.url, { delivery: 'batch' }));
    const again = await cliIn(dir, ['run', '--once', '--config', 'changefeed.yaml', '--data-dir', 'data']);
    expect(again.code).toBe(0);
    expect(await currentBlobs()).toEqual([
      { entity_id: 'huge', version: 1, blob_md5: md5('x'.repeat(25 * MB)) },
      { entity_id: 'small', version: 1, blob_md5: md5('x'.repeat(10)) },
    ]);
  }, 300_000);
});
