import { AppError, ValidationError } from '@changefeed/shared/errors';
import {
  ConfigError,
  envReferences,
  formatIssues,
  isConfigProblem,
  missingEnv,
  parseConfig,
  type ConfigIssue,
} from '@changefeed/shared/config';

const CONFIG = `sources:
  - name: carts
    mode: stream
    request: { url: "http://127.0.0.1:1/carts" }
    idField: id
    table: carts
  - name: shop
    mode: stream
    request: { url: "http://127.0.0.1:1/orders" }
    auth: { type: basic, usernameEnv: SHOP_USER, passwordEnv: SHOP_PASSWORD }
    idField: id
    table: orders
  - name: rates
    mode: batch
    request: { url: "http://127.0.0.1:1/rates" }
    auth:
      type: bearer
      tokenEnv: RATES_TOKEN
    idField: id
    table: rates
`;

function issuesWith(env: Record<string, string>, text = CONFIG, options = {}): ConfigIssue[] {
  try {
    parseConfig(text, 'changefeed.yaml', { env, ...options });
  } catch (e: unknown) {
    if (e instanceof ConfigError) return [...e.issues];
    throw e;
  }
  return [];
}

describe('the environment variables a config names', () => {
  it('lists every *Env key of every source, with its path', () => {
    const config = parseConfig(CONFIG, 'changefeed.yaml');

    expect(envReferences(config).map((r) => [r.path.join('.'), r.variable])).toEqual([
      ['sources.1.auth.usernameEnv', 'SHOP_USER'],
      ['sources.1.auth.passwordEnv', 'SHOP_PASSWORD'],
      ['sources.2.auth.tokenEnv', 'RATES_TOKEN'],
    ]);
  });

  it('counts an empty variable as missing, and only the sources of the modes asked for', () => {
    const config = parseConfig(CONFIG, 'changefeed.yaml');
    const env = { SHOP_USER: 'u', SHOP_PASSWORD: '' };

    expect(missingEnv(config, env).map((r) => r.variable)).toEqual(['SHOP_PASSWORD', 'RATES_TOKEN']);
    expect(missingEnv(config, env, { sourceModes: ['stream'] }).map((r) => r.variable)).toEqual(['SHOP_PASSWORD']);
    expect(missingEnv(config, env, { sourceModes: ['batch'] }).map((r) => r.variable)).toEqual(['RATES_TOKEN']);
  });

  it('needs GOOGLE_CLOUD_PROJECT for backend: gcp without gcp.projectId, and not with it', () => {
    const gcp = (projectId: string): string =>
      `backend: gcp\n${projectId}sources:\n  - { name: a, mode: stream, request: { url: "http://127.0.0.1:1/a" }, idField: id, table: a }\n`;

    expect(issuesWith({}, gcp('')).map((i) => `${i.line}:${i.path}: ${i.message}`)).toEqual([
      '1:gcp.projectId: not set, and GOOGLE_CLOUD_PROJECT is not set either',
    ]);
    expect(issuesWith({ GOOGLE_CLOUD_PROJECT: 'my-project' }, gcp(''))).toEqual([]);
    expect(issuesWith({}, gcp('gcp: { projectId: my-project }\n'))).toEqual([]);
  });
});

describe('parseConfig with an environment', () => {
  it('names each unset variable at the key that names it, as file:line:col: path: message', () => {
    const issues = issuesWith({ SHOP_USER: 'u' });

    expect(formatIssues(issues).split('\n')).toEqual([
      'changefeed.yaml:10:63: sources[1].auth.passwordEnv: SHOP_PASSWORD is not set',
      'changefeed.yaml:18:17: sources[2].auth.tokenEnv: RATES_TOKEN is not set',
    ]);
    expect(issues.map((i) => i.variable)).toEqual(['SHOP_PASSWORD', 'RATES_TOKEN']);
  });

  it('accepts the config when every variable is set, and never checks them without an environment', () => {
    expect(issuesWith({ SHOP_USER: 'u', SHOP_PASSWORD: 'p', RATES_TOKEN: 't' })).toEqual([]);
    expect(parseConfig(CONFIG, 'changefeed.yaml').sources).toHaveLength(3);
  });

  it('reports the problems of the file itself first, without guessing at its variables', () => {
    const issues = issuesWith({}, CONFIG.replace('table: carts', 'table: Carts!'));

    expect(issues.map((i) => i.path)).toEqual(['sources[0].table']);
    expect(issues.every((i) => i.variable === undefined)).toBe(true);
  });
});

describe('isConfigProblem', () => {
  it('is true for what running again unchanged cannot fix, false for failures of the work', () => {
    expect(isConfigProblem(new ValidationError('bad flag'))).toBe(true);
    expect(isConfigProblem(new AppError('CONFIG.UNREADABLE', 'no such file'))).toBe(true);
    expect(isConfigProblem(new AppError('CONFIG.NO_PROJECT', 'no project'))).toBe(true);
    expect(isConfigProblem(new AppError('CONFIG.UNREADABLE', 'GCS 503', { retryable: true }))).toBe(false);
    expect(isConfigProblem(new AppError('SOURCE.TIMEOUT', 'slow'))).toBe(false);
    expect(isConfigProblem(new Error('boom'))).toBe(false);
  });
});
