import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { cliIn } from '../../e2e/e2e-support';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'changefeed-cli-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

function cli(args: string[], env: Record<string, string> = {}) {
  return cliIn(dir, args, { env });
}

/** A source whose bearer token comes from A_TOKEN (line 5, column 37: the variable's name). */
const AUTH_YAML =
  'sources:\n  - name: a\n    mode: stream\n    request: { url: "http://127.0.0.1:1/a" }\n    auth: { type: bearer, tokenEnv: A_TOKEN }\n    idField: id\n    table: a\n';

describe('changefeed command line', () => {
  it('a bad number in a flag names the flag and exits 2', async () => {
    const r = await cli(['demo-api', '--port', 'eighty']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('--port must be a whole number, got "eighty"');
  });

  it('an out-of-range port exits 2', async () => {
    const r = await cli(['start', '--demo-port', '70000']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('--demo-port must be between 0 and 65535');
  });

  it('an unknown command or option exits 2 with a hint', async () => {
    expect((await cli(['frobnicate'])).code).toBe(2);
    const r = await cli(['run', '--config', 'x.yaml', '--fast']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("unknown option '--fast'");
  });

  it('run without --config says so and exits 2', async () => {
    const r = await cli(['run']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("required option '--config <file>' not specified");
  });

  it('--help exits 0', async () => {
    const r = await cli(['--help']);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('run [options]');
  });

  it('run with an invalid config prints every problem with its line and exits 2', async () => {
    const file = path.join(dir, 'bad.yaml');
    await writeFile(file, 'sources:\n  - name: Carts\n    mode: stream\n');
    const r = await cli(['run', '--config', file, '--once']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`${file}:2:`);
    expect(r.stderr).toContain('sources[0].name');
    expect(r.stderr).toContain('sources[0].request');
  });

  it('run and config check with a missing config file exit 2 saying there is no such file', async () => {
    const file = path.join(dir, 'nope.yaml');
    for (const args of [
      ['run', '--config', file],
      ['config', 'check', file],
    ]) {
      const r = await cli(args);
      expect(r.code).toBe(2);
      expect(r.stderr).toBe(`cannot read config file ${file}: there is no such file\n`);
    }
  });

  it('run on a gcp config with push delivery explains that the in-process run pulls, and exits 2', async () => {
    const file = path.join(dir, 'gcp.yaml');
    await writeFile(
      file,
      'backend: gcp\ngcp: { projectId: my-project }\nsources:\n  - { name: a, mode: stream, request: { url: "http://127.0.0.1:1/a" }, idField: id, table: a }\n',
    );
    const r = await cli(['run', '--config', file, '--once', '--data-dir', path.join(dir, 'd')]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('backend: gcp');
    expect(r.stderr).toContain('loader.delivery: push');
  });

  it('run exits 2 before opening anything, naming the key and the variable, when a credential variable is unset', async () => {
    const file = path.join(dir, 'auth.yaml');
    await writeFile(file, AUTH_YAML);
    const dataDir = path.join(dir, 'd');
    const r = await cli(['run', '--config', file, '--once', '--data-dir', dataDir]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`${file}:5:37: sources[0].auth.tokenEnv: A_TOKEN is not set`);
    expect(existsSync(dataDir)).toBe(false);
  });

  it('config check names an unset variable and exits 2; with it set, or with --no-env, exits 0', async () => {
    await writeFile(path.join(dir, 'auth.yaml'), AUTH_YAML);

    const unset = await cli(['config', 'check', 'auth.yaml'], { A_TOKEN: '' });
    expect(unset.code).toBe(2);
    expect(unset.stderr).toContain('auth.yaml:5:37: sources[0].auth.tokenEnv: A_TOKEN is not set');
    expect(unset.stderr).toContain('--no-env');

    const set = await cli(['config', 'check', 'auth.yaml'], { A_TOKEN: 't-1' });
    expect(set.code).toBe(0);
    expect(set.stdout).toBe('auth.yaml: ok (backend local; stream sources: a; batch sources: none)\n');

    const lint = await cli(['config', 'check', '--no-env', 'auth.yaml']);
    expect(lint.code).toBe(0);
    expect(lint.stdout).toContain('environment not checked');
  });

  it('query with no warehouse says where it looked', async () => {
    const r = await cli(['query', 'select 1', '--data-dir', path.join(dir, 'empty')]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(path.join(dir, 'empty', 'warehouse.duckdb'));
  });

  it('config check of a good file exits 0 with a summary', async () => {
    const file = path.join(dir, 'ok.yaml');
    await writeFile(
      file,
      'sources:\n  - { name: a, mode: stream, request: { url: "http://127.0.0.1:1/a" }, idField: id, table: a }\n',
    );
    const r = await cli(['config', 'check', file]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('stream sources: a');
  });

  it('reads a relative --config path from the directory the command runs in', async () => {
    await writeFile(
      path.join(dir, 'rel.yaml'),
      'sources:\n  - { name: a, mode: stream, request: { url: "http://127.0.0.1:1/a" }, idField: id, table: a }\n',
    );
    const check = await cli(['config', 'check', 'rel.yaml']);
    expect(check.code).toBe(0);
    expect(check.stdout).toContain('rel.yaml: ok');
    const run = await cli(['run', '--config', 'missing.yaml', '--once']);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain(path.join(dir, 'missing.yaml'));
  });
});
