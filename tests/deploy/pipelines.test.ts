import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parse } from 'yaml';
import { loadTerraform, REPO_ROOT, type Terraform } from './terraform-files';

/**
 * CI (GitHub Actions), Cloud Build and the images: they must run the tests the README tells people
 * to run, tag images with the commit, and deploy what Terraform created.
 */

type Yaml = Record<string, unknown>;

function read(file: string): string {
  return readFileSync(path.join(REPO_ROOT, file), 'utf8');
}

function isObject(v: unknown): v is Yaml {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function listOf(v: unknown, what: string): Yaml[] {
  if (!Array.isArray(v) || !v.every(isObject)) throw new Error(`${what}: expected a list of mappings`);
  return v;
}

/** The command in the first code block after "To run the tests" in README.md. */
function readmeTestCommand(): string {
  const readme = read('README.md');
  const m = /To run the tests[^\n]*\n+```sh\n([^\n]+)\n```/.exec(readme);
  if (m?.[1] === undefined) throw new Error('README.md: no code block after "To run the tests"');
  return m[1].trim();
}

/** What a step runs: its script, or its entrypoint and args joined. */
function commandOf(step: Yaml): string {
  if (typeof step['script'] === 'string') return step['script'];
  if (typeof step['run'] === 'string') return step['run'];
  const args = Array.isArray(step['args']) ? step['args'].map(String) : [];
  return [typeof step['entrypoint'] === 'string' ? step['entrypoint'] : '', ...args].join(' ');
}

/** True when a command runs the README's test command, directly or through .ci/run. */
function runsTests(command: string, testCommand: string): boolean {
  return command.includes(testCommand) || /(^|\s)(bash\s+)?(\.\/)?\.ci\/run(\s|$)/m.test(command);
}

const SERVICES = ['poller', 'loader', 'batch'] as const;

let tf: Terraform;

beforeAll(async () => {
  tf = await loadTerraform();
});

describe('the test command', () => {
  it('is the one .ci/run ends with', () => {
    const lines = read('.ci/run')
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => l !== '' && !l.startsWith('#'));

    expect(readmeTestCommand()).toBe('npm test');
    expect(lines.at(-1)).toBe(readmeTestCommand());
  });
});

describe('.github/workflows/ci.yml', () => {
  const workflow = parse(read('.github/workflows/ci.yml')) as Yaml;
  const jobs = workflow['jobs'] as Record<string, Yaml>;
  const testSteps = listOf(jobs['test']?.['steps'], 'jobs.test.steps');
  const uses = (action: string): Yaml | undefined =>
    testSteps.find((s) => typeof s['uses'] === 'string' && s['uses'].startsWith(`${action}@`));

  it('runs on pull requests and pushes to main, with read-only permissions', () => {
    const on = workflow['on'] as Yaml;

    expect(on).toHaveProperty('pull_request');
    expect((on['push'] as Yaml)['branches']).toContain('main');
    expect(workflow['permissions']).toEqual({ contents: 'read' });
  });

  it("runs the README's test command", () => {
    expect(testSteps.some((s) => runsTests(commandOf(s), readmeTestCommand()))).toBe(true);
  });

  it('sets up Node 20, Java 17 and the Pub/Sub and Firestore emulators before it', () => {
    const components = String((uses('google-github-actions/setup-gcloud')?.['with'] as Yaml)['install_components']);

    expect((uses('actions/setup-node')?.['with'] as Yaml)['node-version']).toBe(20);
    expect((uses('actions/setup-java')?.['with'] as Yaml)['java-version']).toBe(17);
    expect(String((uses('actions/setup-python')?.['with'] as Yaml)['python-version'])).toBe('3.11');
    expect(components.split(',').map((c) => c.trim())).toEqual(
      expect.arrayContaining(['pubsub-emulator', 'cloud-firestore-emulator']),
    );
    const testIndex = testSteps.findIndex((s) => runsTests(commandOf(s), readmeTestCommand()));
    const setupIndex = testSteps.findIndex((s) => s === uses('google-github-actions/setup-gcloud'));
    expect(setupIndex).toBeLessThan(testIndex);
  });
});

describe('cloudbuild.yaml', () => {
  const build = parse(read('cloudbuild.yaml')) as Yaml;
  const steps = listOf(build['steps'], 'steps');
  const step = (id: string): Yaml => {
    const found = steps.find((s) => s['id'] === id);
    if (found === undefined) throw new Error(`cloudbuild.yaml: no step ${id}`);
    return found;
  };
  const image = (service: string): string =>
    `\${_REGION}-docker.pkg.dev/\${PROJECT_ID}/\${_REPOSITORY}/${service}:\${COMMIT_SHA}`;

  it("runs the README's test command before anything is pushed", () => {
    expect(runsTests(commandOf(step('test')), readmeTestCommand())).toBe(true);
    for (const service of SERVICES) expect(step(`push-${service}`)['waitFor']).toContain('test');
  });

  it('builds and pushes each image tagged with the commit SHA, into the Terraform repository', () => {
    const substitutions = build['substitutions'] as Yaml;

    for (const service of SERVICES) {
      const args = step(`build-${service}`)['args'] as string[];
      expect(args.slice(0, 3)).toEqual(['build', '--target', service]);
      expect(args[args.indexOf('-t') + 1]).toBe(image(service));
      expect(step(`push-${service}`)['args']).toEqual(['push', image(service)]);
      expect(build['images']).toContain(image(service));
    }
    expect(substitutions['_REPOSITORY']).toBe(tf.locals['repository_id']);
    expect(tf.locals['image_prefix']).toBe('${var.region}-docker.pkg.dev/${var.project_id}/${local.repository_id}');
    expect(Object.keys(substitutions)).toEqual(expect.arrayContaining(['_REGION', '_REPOSITORY']));
  });

  it('rolls the new images out to the services and the job Terraform created', () => {
    const deploy = commandOf(step('deploy'));
    const names = {
      poller: tf.locals['poller_service_name'],
      loader: tf.locals['loader_service_name'],
      batch: tf.locals['batch_job_name'],
    };

    expect(deploy).toContain(`gcloud run services update ${String(names.poller)} `);
    expect(deploy).toContain(`gcloud run services update ${String(names.loader)} `);
    expect(deploy).toContain(`gcloud run jobs update ${String(names.batch)} `);
    for (const service of SERVICES) expect(deploy).toContain(`--image '${image(service)}'`);
    expect(step('deploy')['waitFor']).toEqual(expect.arrayContaining(SERVICES.map((service) => `push-${service}`)));
  });

  it('logs to Cloud Logging only, as a build running as the deployer account must', () => {
    expect((build['options'] as Yaml)['logging']).toBe('CLOUD_LOGGING_ONLY');
  });
});

describe('Dockerfile', () => {
  const dockerfile = read('Dockerfile');
  const stages = new Map(
    dockerfile
      .split(/^(?=FROM )/m)
      .filter((s) => s.startsWith('FROM '))
      .map((s) => [/^FROM \S+ AS (\S+)/.exec(s)?.[1] ?? '', s]),
  );

  it('builds on node 20 (bookworm-slim) with the tools better-sqlite3 compiles with, then keeps production dependencies only', () => {
    const buildStage = stages.get('build') ?? '';

    expect(dockerfile).toMatch(/^ARG NODE_IMAGE=node:20-bookworm-slim$/m);
    expect(buildStage).toMatch(/apt-get install[^\n]*python3 make g\+\+/);
    expect(buildStage).toContain('npm ci');
    expect(buildStage).toContain('npm run build');
    expect(buildStage).toContain('npm prune --omit=dev');
  });

  it('runs each service as the unprivileged node user, in production mode, with its own entry point', () => {
    const runtime = stages.get('runtime') ?? '';

    expect(runtime).toMatch(/^FROM \$\{NODE_IMAGE\} AS runtime$/m);
    expect(runtime).toMatch(/^ENV NODE_ENV=production$/m);
    expect(runtime).toMatch(/^USER node$/m);
    for (const service of SERVICES) {
      const stage = stages.get(service) ?? '';
      expect(stage).toMatch(new RegExp(`^FROM runtime AS ${service}$`, 'm'));
      expect(stage).toContain(`CMD ["node", "services/${service}/dist/main.js"]`);
      expect(stage).not.toMatch(/^USER /m);
    }
  });

  it('sends the builder only what the build needs', () => {
    const lines = read('.dockerignore')
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => l !== '' && !l.startsWith('#'));

    expect(lines[0]).toBe('*');
    expect(lines).toEqual(expect.arrayContaining(['**/node_modules', '**/dist']));
    const reincluded = lines.filter((l) => l.startsWith('!'));
    for (const never of ['terraform', 'tests', '.changefeed', '.git', 'bench']) {
      expect(reincluded.filter((l) => l.replace(/^!\/?/, '').startsWith(never))).toEqual([]);
    }
  });
});
