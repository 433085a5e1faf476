import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { cliIn } from '../../e2e/e2e-support';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'changefeed-dlq-flags-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

function dlq(args: string[]) {
  return cliIn(dir, ['dlq', ...args]);
}

async function gcpConfig(extra = ''): Promise<string> {
  const file = path.join(dir, 'gcp.yaml');
  await writeFile(
    file,
    `backend: gcp
${extra}sources:
  - { name: carts, mode: stream, request: { url: "http://127.0.0.1:9/carts" }, idField: id, table: carts }
`,
  );
  return file;
}

describe('changefeed dlq: flags and config that cannot work', () => {
  it.each([
    [['list', '--filter', 'colour=red'], `argument 'colour=red' is invalid. unknown key "colour"`],
    [['peek', '--filter', 'entity'], 'expected KEY=VALUE, got "entity"'],
    [['list', '--since', 'last tuesday'], "option '--since <time>' argument 'last tuesday' is invalid"],
    [['replay', '--until', '2026-02-30'], "option '--until <time>' argument '2026-02-30' is invalid"],
    [['list', '--limit', '0'], '--limit must be between 1 and 1000000000'],
    [['replay', '--rate', '0'], '--rate must be a number of messages per second > 0, got "0"'],
    [['replay', '--rate', 'fast'], '--rate must be a number of messages per second > 0, got "fast"'],
    [['list', '--topic', 'x'], "unknown option '--topic'"],
    [
      ['list', '--since', '2026-06-02', '--until', '2026-06-01'],
      '--since (2026-06-02T00:00:00.000Z) must be before --until',
    ],
    [
      ['list', '--subscription', 'dead'],
      '--subscription applies to the gcp backend; without --config, the backend is local',
    ],
    [['replay', '--topic', 'events'], '--topic applies to the gcp backend'],
    [['list', '--config', 'nowhere.yaml'], 'cannot read config file'],
  ])('dlq %j exits 2 and says why', async (args, message) => {
    const r = await dlq(args);

    expect(r.stderr).toContain(message);
    expect(r.code).toBe(2);
  });

  it('with no local bus in --data-dir, exits 1 saying the pipeline has not run there, and creates nothing', async () => {
    const r = await dlq(['list', '--data-dir', 'data']);

    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`cannot open the local bus ${path.join(dir, 'data', 'bus.sqlite')}`);
    expect(r.stderr).toContain('the pipeline has not run with --data-dir data');
    expect(existsSync(path.join(dir, 'data'))).toBe(false);
  });

  it('the gcp backend needs a project, from the config or GOOGLE_CLOUD_PROJECT', async () => {
    const config = await gcpConfig();

    const r = await dlq(['list', '--config', config]);

    expect(r.code).toBe(2);
    expect(r.stderr).toContain('no GCP project: set gcp.projectId in the config or GOOGLE_CLOUD_PROJECT');
  });

  it('a malformed subscription or topic name is refused before anything is contacted, naming where it came from', async () => {
    const config = await gcpConfig('gcp:\n  projectId: my-project\n  pubsub: { topic: "1-starts-with-a-digit" }\n');

    const badFlag = await dlq(['list', '--config', config, '--subscription', 'projects/my-project/topics/t']);
    const badConfig = await dlq(['replay', '--config', config]);

    expect(badFlag.code).toBe(2);
    expect(badFlag.stderr).toContain(
      '--subscription: invalid Pub/Sub subscription name "projects/my-project/topics/t": expected projects/<project>/subscriptions/<id>',
    );
    expect(badConfig.code).toBe(2);
    expect(badConfig.stderr).toContain(
      `${config}: gcp.pubsub.topic: invalid Pub/Sub topic name "1-starts-with-a-digit"`,
    );
  });

  it('--help explains how to select dead letters', async () => {
    const r = await dlq(['replay', '--help']);

    expect(r.code).toBe(0);
    expect(r.stdout).toContain('--filter KEY=VALUE  exact match; KEY is one of');
    expect(r.stdout).toContain('the same KEY twice matches either value; different KEYs must all match');
    expect(r.stdout).toContain('--dry-run');
    expect(r.stdout).toContain('--rate <msgs/s>');
  });
});
