import { readFile } from 'node:fs/promises';
import { isMap, isSeq, LineCounter, parseDocument, type Node as YamlNode } from 'yaml';
import { AppError, ValidationError, errorMessage, type ValidationIssue } from '../errors';
import { validationIssue } from '../errors/zod-issues';
import { configSchema, type Config } from './schema';

/** A config problem with the place it was found, ready to print as `file:line:col: path: message`. */
export interface ConfigIssue extends ValidationIssue {
  readonly file: string;
  readonly line: number;
  readonly column: number;
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

/** Parses and validates config text. Throws ConfigError listing every problem with its place. */
export function parseConfig(text: string, file: string): Config {
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
  const result = configSchema.safeParse(doc.toJS() ?? {});
  if (result.success) return result.data;
  const issues = result.error.issues.map((issue): ConfigIssue => {
    const node = nodeAt(doc.contents, issue.path);
    const pos = lineCounter.linePos(node?.range?.[0] ?? 0);
    return { file, line: pos.line, column: pos.col, ...validationIssue(issue) };
  });
  throw new ConfigError(file, issues);
}

/** Reads and validates a config file from a local path. */
export async function loadConfig(file: string): Promise<Config> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (e: unknown) {
    throw new AppError('CONFIG.UNREADABLE', `cannot read config file ${file}: ${errorMessage(e)}`, { cause: e });
  }
  return parseConfig(text, file);
}
