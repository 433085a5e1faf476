import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { openBackend, openServiceBackend, type BackendContext } from '@changefeed/shared/backend';
import { parseConfig, type Config } from '@changefeed/shared/config';
import { createSilentLogger } from '@changefeed/shared/log';
import { systemClock } from '@changefeed/shared/ports';

function config(extra = ''): Config {
  return parseConfig(
    `${extra}sources:\n  - name: carts\n    mode: stream\n    request: { url: 'http://127.0.0.1:9/carts' }\n    idField: id\n    table: carts\n`,
    'test.yaml',
  );
}

describe('openBackend', () => {
  let dir: string;
  let context: BackendContext;
  beforeEach(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'changefeed-backend-'));
    context = { config: config(), env: {}, clock: systemClock, logger: createSilentLogger(), dataDir: dir };
  });
  afterEach(() => rm(dir, { recursive: true, force: true }));

  it('opens the local backend of the data directory, touching nothing until a port is asked for', async () => {
    const backend = await openBackend({ ...context, dataDir: path.join(dir, 'data') });
    expect(backend.name).toBe('local');
    await expect(stat(path.join(dir, 'data'))).rejects.toMatchObject({ code: 'ENOENT' });
    await backend.close();
  });

  it('hands out each local port once, and closes them all', async () => {
    const backend = await openBackend(context);
    if (backend.name !== 'local') throw new Error('expected the local backend');
    const [a, b] = await Promise.all([backend.warehouse(), backend.warehouse()]);
    expect(a).toBe(b);
    expect(await backend.snapshots()).toBe(await backend.snapshots());
    const bus = await backend.deliveringBus({ pushEndpoint: 'http://127.0.0.1:9/pubsub/push' });
    expect(await backend.publisher()).toBe(bus);
    await backend.close();
    await backend.close();
    // Closed: the DuckDB file is free for another open in this process.
    const again = await openBackend(context);
    await expect(again.warehouse()).resolves.toBeDefined();
    await expect(backend.warehouse()).rejects.toThrow('the backend is closed');
    await again.close();
  });

  it('refuses a local publisher when no bus delivers in this process', async () => {
    const backend = await openBackend(context);
    await expect(backend.publisher()).rejects.toThrow('open deliveringBus() first');
    await backend.close();
  });

  it('says which data directory has no bus when the dead letters are asked for', async () => {
    const backend = await openBackend({ ...context, config: undefined });
    await expect(backend.deadLetters()).rejects.toMatchObject({
      code: 'BUS.UNAVAILABLE',
      message: expect.stringContaining(`the data directory ${dir}`) as unknown,
    });
    await backend.close();
  });

  it('opens the gcp backend without a client, and names a missing project', async () => {
    const gcp = config('backend: gcp\ngcp:\n  projectId: demo-project\n');
    const backend = await openBackend({ ...context, config: gcp });
    if (backend.name !== 'gcp') throw new Error('expected the gcp backend');
    expect(backend.projectId).toBe('demo-project');
    expect(backend.topicName()).toBe('projects/demo-project/topics/changefeed-events');
    await backend.close();
    await expect(openBackend({ ...context, config: config('backend: gcp\n') })).rejects.toMatchObject({
      code: 'CONFIG.NO_PROJECT',
    });
  });

  it('lets a Cloud Run service start only on the gcp backend, saying what to run instead', async () => {
    await expect(
      openServiceBackend({ ...context, config: config() }, 'poller', 'changefeed.yaml'),
    ).rejects.toMatchObject({
      code: 'CONFIG.BACKEND',
      message: expect.stringContaining('changefeed.yaml says backend: local') as unknown,
    });
  });
});
