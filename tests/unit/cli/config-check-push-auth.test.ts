import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { cliIn } from '../../e2e/e2e-support';

const SOURCE =
  'sources:\n  - { name: a, mode: stream, request: { url: "http://127.0.0.1:1/a" }, idField: id, table: a }\n';

describe('config check of a gcp push loader', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'changefeed-pushauth-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  async function check(yaml: string): Promise<Awaited<ReturnType<typeof cliIn>>> {
    const file = path.join(dir, 'gcp.yaml');
    await writeFile(file, `backend: gcp\ngcp: { projectId: demo-project }\n${yaml}${SOURCE}`);
    return cliIn(dir, ['config', 'check', file]);
  }

  it('refuses push without loader.auth, naming the key and the opt-out, and exits 2', async () => {
    const r = await check('');
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toContain('gcp.yaml: loader.auth: ');
    expect(r.stderr).toContain('loader.allowUnauthenticatedPush: true');
    expect(r.stderr).toContain('CONFIG.UNAUTHENTICATED_PUSH');
  });

  it.each([
    [
      'loader.auth set',
      'loader:\n  auth: { audience: "https://loader", serviceAccountEmail: "push@p.iam.gserviceaccount.com" }\n',
    ],
    ['the explicit opt-out', 'loader: { allowUnauthenticatedPush: true }\n'],
    ['pull delivery, which has no push endpoint', 'loader: { delivery: pull }\n'],
  ])('accepts it with %s', async (_what, yaml) => {
    const r = await check(yaml);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
  });

  it('accepts a local config without loader.auth: the local bus authenticates itself', async () => {
    const file = path.join(dir, 'local.yaml');
    await writeFile(file, SOURCE);
    const r = await cliIn(dir, ['config', 'check', file]);
    expect(r.code).toBe(0);
  });
});
