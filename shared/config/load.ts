import { readFile } from 'node:fs/promises';
import { isMap, isSeq, LineCounter, parseDocument, type Node as YamlNode } from 'yaml';
import { AppError, ValidationError, errorMessage, type ValidationIssue } from '../errors';
import { formatIssuePath, validationIssue } from '../errors/zod-issues';
import { missingEnv, type EnvReferenceOptions } from './required-env';
import { configSchema, type Config } from './schema';

/** A config problem with the place it was found, ready to print as `file:line:col: path: message`. */
export interface ConfigIssue extends ValidationIssue {
  readonly file: string;
  readonly line: number;
  readonly column: number;
  /** Set when the problem is an environment variable the config names that is unset or empty. */
  readonly variable?: string;
}

/** How a config is checked besides its own text. */
export interface ConfigLoadOptions extends EnvReferenceOptions {
  /**
   * When given, every environment variable the config names (see envReferences) must be set in
   * it: one that is unset or empty is a ConfigError at the key that names it, listed with the
   * file's other problems. Absent: the file alone is checked (`config check --no-env`).
   */
  readonly env?: Readonly<Record<string, string | undefined>>;
}

export class ConfigError extends ValidationError {
  override readonly issues: readonly ConfigIssue[];

  constructor(file: string, issues: readonly ConfigIssue[]) {
    super(
      `${file}: ${issues.length} problem${issues.length === 1 ? '' : 's'} in the config\n${formatIssues(issues)}`,
      issues,
    );
    this.issues = issues;
  }
}

export function formatIssues(issues: readonly ConfigIssue[]): string {
  return issues
    .map((i) => `${i.file}:${i.line}:${i.column}: ${i.path === '' ? '(top level)' : i.path}: ${i.message}`)
    .join('\n');
}

/** Finds the YAML node nearest to `path` (the deepest one that exists) to point at a line. */
function nodeAt(root: YamlNode | null, path: readonly PropertyKey[]): YamlNode | null {
  let node = root;
  for (const key of path) {
    if (isMap(node)) {
      const pair = node.items.find((p) => (p.key as { value?: unknown } | null)?.value === key);
      if (pair === undefined) return node;
      // Pointing at the value is most useful; a key with no value points at the key.
      node = (pair.value as YamlNode | null) ?? (pair.key as YamlNode | null) ?? node;
    } else if (isSeq(node) && typeof key === 'number') {
      const item = node.items[key] as YamlNode | undefined;
      if (item === undefined) return node;
      node = item;
    } else {
      return node;
    }
  }
  return node;
}

/**
 * Parses and validates config text, and with `options.env` the variables it names. Throws
 * ConfigError listing every problem with its place.
 */
export function parseConfig(text: string, file: string, options: ConfigLoadOptions = {}): Config {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true });
  if (doc.errors.length > 0) {
    throw new ConfigError(
      file,
      doc.errors.map((e) => {
        const pos = lineCounter.linePos(e.pos[0]);
        return {
          file,
          line: pos.line,
          column: pos.col,
          path: '',
          message: `YAML syntax: ${e.message.split('\n')[0] ?? e.code}`,
        };
      }),
    );
  }
  const place = (path: readonly PropertyKey[]): { line: number; column: number } => {
    const pos = lineCounter.linePos(nodeAt(doc.contents, path)?.range?.[0] ?? 0);
    return { line: pos.line, column: pos.col };
  };
  const result = configSchema.safeParse(doc.toJS() ?? {});
  if (!result.success) {
    throw new ConfigError(
      file,
      result.error.issues.map((issue): ConfigIssue => ({ file, ...place(issue.path), ...validationIssue(issue) })),
    );
  }
  if (options.env === undefined) return result.data;
  const missing = missingEnv(result.data, options.env, options);
  if (missing.length === 0) return result.data;
  throw new ConfigError(
    file,
    missing.map((ref): ConfigIssue => ({
      file,
      ...place(ref.path),
      path: formatIssuePath(ref.path),
      message: ref.unsetMessage,
      variable: ref.variable,
    })),
  );
}

/** Reads and validates a config file from a local path (see parseConfig for `options`). */
export async function loadConfig(file: string, options: ConfigLoadOptions = {}): Promise<Config> {
  return parseConfig(await readConfigFile(file), file, options);
}

/** The text of a local config file; a file that is not there says so in those words, not as ENOENT. */
export async function readConfigFile(file: string): Promise<string> {
  try {
    return await readFile(file, 'utf8');
  } catch (e: unknown) {
    const missing = (e as { code?: unknown }).code === 'ENOENT';
    throw new AppError(
      'CONFIG.UNREADABLE',
      `cannot read config file ${file}: ${missing ? 'there is no such file' : errorMessage(e)}`,
      { cause: e },
    );
  }
}
