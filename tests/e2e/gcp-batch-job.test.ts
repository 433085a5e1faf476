import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { BIGQUERY_PROJECT, bigqueryQuery } from '../support/bigquery-rest';
import { startDemoApi, type RunningDemoApi } from '@changefeed/demo-api';

const ROOT = path.resolve(__dirname, '..', '..');
const MAIN = path.join(ROOT, 'services', 'batch', 'dist', 'main.js');
const PROJECT = BIGQUERY_PROJECT;

function runJob(config: string): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [MAIN], {
      env: { ...process.env, CHANGEFEED_CONFIG: config, LOG_LEVEL: 'warn' },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('exit', (code) => resolve({ code, stderr }));
  });
}

/** The batch job's Cloud Run entry point, as the container runs it, on the Firestore and BigQuery emulators. */
describe('batch job (Cloud Run entry point) on the emulators', () => {
  let dir: string;
  let api: RunningDemoApi;

  beforeEach(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'changefeed-batch-'));
    api = await startDemoApi({ port: 0, changesPerSecond: 0, seed: 3 });
  });
  afterEach(async () => {
    await api.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('loads the reference tables, keeps the incremental cursor in Firestore, and exits 0', async () => {
    if (!existsSync(MAIN)) throw new Error('services/batch/dist is missing: run "npm run build" (npm test does it)');
    const suffix = Date.now();
    const dataset = `batch_e2e_${suffix}`;
    const config = path.join(dir, 'changefeed.yaml');
    await writeFile(
      config,
      `backend: gcp
gcp:
  projectId: ${PROJECT}
  bigquery: { dataset: ${dataset} }
  firestore: { collection: batch-e2e-${suffix} }
sources:
  - { name: users, mode: batch, request: { url: "${api.url}/users", recordsPath: users }, idField: id, table: users }
  - name: products
    mode: batch
    request: { url: "${api.url}/products" }
    idField: id
    table: products
    incremental: { cursorField: updatedAt, cursorParam: updatedSince }
`,
    );
    const first = await runJob(config);
    expect(first.stderr).toBe('');
    expect(first.code).toBe(0);
    expect(await bigqueryQuery(`select count(*) from \`${PROJECT}.${dataset}.users\``)).toEqual([
      [String(api.store.users().length)],
    ]);
    expect(await bigqueryQuery(`select count(*) from \`${PROJECT}.${dataset}.products\``)).toEqual([
      [String(api.store.products().length)],
    ]);

    const second = await runJob(config);
    expect(second.code).toBe(0);
    const runs = await bigqueryQuery(
      `select source, status, rows_read from \`${PROJECT}.${dataset}._runs\` order by started_at, source`,
    );
    expect(runs.map((r) => r[1])).toEqual(['succeeded', 'succeeded', 'succeeded', 'succeeded']);
    // The second incremental run sent the stored watermark, so the API returned nothing new.
    const productRuns = runs.filter((r) => r[0] === 'products').map((r) => r[2]);
    expect(productRuns).toEqual([String(api.store.products().length), '0']);
  });
});
