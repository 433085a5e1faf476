import type { Config, SourceConfig } from './schema';

type Environment = Readonly<Record<string, string | undefined>>;

/** One environment variable a config relies on, and the key of the config that makes it needed. */
export interface EnvReference {
  /** Where in the config, as zod paths go: `['sources', 2, 'auth', 'tokenEnv']`. */
  readonly path: readonly (string | number)[];
  readonly variable: string;
  /** What it means when the variable is unset or empty, worded to follow `path: `. */
  readonly unsetMessage: string;
}

/** Which sources' variables count: a poller needs its stream sources' credentials, not the batch job's. */
export interface EnvReferenceOptions {
  /** Absent: every source's. */
  readonly sourceModes?: readonly SourceConfig['mode'][];
}

/**
 * Every environment variable `config` names, with the key that names it:
 * - each key whose name ends in `Env` (the convention for every key that names a variable holding
 *   a secret, see shared/source/auth/credential-env.ts), wherever it sits, so an auth type added
 *   later is covered without being listed here;
 * - `GOOGLE_CLOUD_PROJECT` for `backend: gcp` without `gcp.projectId` (see resolveProjectId).
 *
 * What reads these variables fails at start-up when one is unset; this lets `config check`, and
 * `run` before it opens anything, name them all at once with their place in the file.
 */
export function envReferences(config: Config, options: EnvReferenceOptions = {}): EnvReference[] {
  const refs: EnvReference[] = [];
  const { sources, ...rest } = config;
  collect(rest, [], refs);
  sources.forEach((source, i) => {
    if (options.sourceModes === undefined || options.sourceModes.includes(source.mode)) {
      collect(source, ['sources', i], refs);
    }
  });
  if (config.backend === 'gcp' && config.gcp.projectId === undefined) {
    refs.push({
      path: ['gcp', 'projectId'],
      variable: 'GOOGLE_CLOUD_PROJECT',
      unsetMessage: 'not set, and GOOGLE_CLOUD_PROJECT is not set either',
    });
  }
  return refs;
}

/** The references of `config` whose variable is unset or empty in `env` (empty counts: a secret cannot be ''). */
export function missingEnv(config: Config, env: Environment, options: EnvReferenceOptions = {}): EnvReference[] {
  return envReferences(config, options).filter((r) => (env[r.variable] ?? '') === '');
}

function collect(value: unknown, path: readonly (string | number)[], refs: EnvReference[]): void {
  if (Array.isArray(value)) {
    value.forEach((item, i) => collect(item, [...path, i], refs));
    return;
  }
  // Only the plain objects zod builds: a Duration or a RegExp holds no keys of the config.
  if (!isPlainObject(value)) return;
  for (const [key, child] of Object.entries(value)) {
    if (key.endsWith('Env') && typeof child === 'string') {
      refs.push({ path: [...path, key], variable: child, unsetMessage: `${child} is not set` });
    } else {
      collect(child, [...path, key], refs);
    }
  }
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null) return false;
  const proto: unknown = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}
