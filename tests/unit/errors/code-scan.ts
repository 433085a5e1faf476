import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';

/** What the source says about error codes: codes written out, and prefixes of codes built by a helper. */
export interface CodeMentions {
  readonly codes: ReadonlySet<string>;
  /** Prefixes of `<prefix>.<Pub/Sub failure>` codes: `toPubSubError('PUBLISH', …)`, `` `PUBSUB_SETUP.${failure}` ``. */
  readonly pubSubPrefixes: ReadonlySet<string>;
}

/** `'WAREHOUSE.INVALID_ROW'`, `"SOURCE.TIMEOUT"`: a quoted, dotted, upper-case name is a code. */
const DOTTED_LITERAL = /(['"])([A-Z][A-Z0-9_]*(?:\.[A-Z][A-Z0-9_]*)+)\1/g;
/** Codes without a dot (`'VALIDATION'`) count only where an error is made with them. */
const PLAIN_CODE_ARGUMENT = /(?:new AppError|super)\(\s*(['"])([A-Z][A-Z0-9_]*)\1/g;
const PUBSUB_HELPER_PREFIX = /toPubSubError\(\s*(['"])([A-Z][A-Z0-9_]*)\1/g;
/** Only as the code of an error: SQL in template literals has `` `T.${column}` `` too. */
const TEMPLATE_PREFIX = /new AppError\(\s*`([A-Z][A-Z0-9_]*)\.\$\{/g;

export function codeMentionsIn(source: string): CodeMentions {
  const codes = new Set<string>();
  const pubSubPrefixes = new Set<string>();
  for (const pattern of [DOTTED_LITERAL, PLAIN_CODE_ARGUMENT]) {
    for (const match of source.matchAll(pattern)) codes.add(match[2] ?? '');
  }
  for (const match of source.matchAll(PUBSUB_HELPER_PREFIX)) pubSubPrefixes.add(match[2] ?? '');
  for (const match of source.matchAll(TEMPLATE_PREFIX)) pubSubPrefixes.add(match[1] ?? '');
  return { codes, pubSubPrefixes };
}

/** Every `.ts` file under `dirs`, build output and dependencies left out. */
export function sourceFiles(dirs: readonly string[], skip: (file: string) => boolean = () => false): string[] {
  const files: string[] = [];
  const walk = (dir: string): void => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const full = path.join(dir, entry.name);
      if (entry.isDirectory()) {
        if (entry.name !== 'dist' && entry.name !== 'node_modules') walk(full);
      } else if (entry.name.endsWith('.ts') && !entry.name.endsWith('.d.ts') && !skip(full)) {
        files.push(full);
      }
    }
  };
  for (const dir of dirs) walk(dir);
  return files.sort();
}

/** The mentions of all `files` together, with the files each code appears in. */
export function codeMentionsOf(files: readonly string[]): CodeMentions & { readonly where: Map<string, string[]> } {
  const codes = new Set<string>();
  const pubSubPrefixes = new Set<string>();
  const where = new Map<string, string[]>();
  for (const file of files) {
    const found = codeMentionsIn(readFileSync(file, 'utf8'));
    for (const code of found.codes) {
      codes.add(code);
      where.set(code, [...(where.get(code) ?? []), file]);
    }
    for (const prefix of found.pubSubPrefixes) pubSubPrefixes.add(prefix);
  }
  return { codes, pubSubPrefixes, where };
}
