import type { z } from 'zod';
import type { ValidationIssue } from './index';

/**
 * One mapping from zod's issues to `ValidationIssue`s, for every boundary that validates with zod
 * (the config file, the service environment, change events, push envelopes), so that a path and a
 * message read the same wherever the input came from.
 */
export function validationIssues(error: z.ZodError, options: { readonly pathPrefix?: string } = {}): ValidationIssue[] {
  return error.issues.map((issue) => validationIssue(issue, options));
}

export function validationIssue(
  issue: z.core.$ZodIssue,
  options: { readonly pathPrefix?: string } = {},
): ValidationIssue {
  const path = formatIssuePath(issue.path);
  return { path: path === '' ? path : `${options.pathPrefix ?? ''}${path}`, message: issueMessage(issue) };
}

/** `sources[0].request.url` from zod's `['sources', 0, 'request', 'url']`; odd keys in brackets. */
export function formatIssuePath(path: readonly PropertyKey[]): string {
  return path.reduce<string>((out, key) => {
    if (typeof key === 'number') return `${out}[${key}]`;
    const name = String(key);
    return /^[A-Za-z_][\w-]*$/.test(name) ? (out === '' ? name : `${out}.${name}`) : `${out}[${JSON.stringify(name)}]`;
  }, '');
}

/** `path: message; path: message`, with `emptyPath` naming the whole input (`body`, `(top level)`). */
export function summarizeIssues(issues: readonly ValidationIssue[], emptyPath: string): string {
  return issues.map((i) => `${i.path === '' ? emptyPath : i.path}: ${i.message}`).join('; ');
}

/** zod's own message, except for unknown keys, which it words as "Unrecognized key(s) in object". */
function issueMessage(issue: z.core.$ZodIssue): string {
  if (issue.code === 'unrecognized_keys') {
    return `unknown key${issue.keys.length === 1 ? '' : 's'} ${issue.keys.map((k) => `"${k}"`).join(', ')}`;
  }
  return issue.message;
}
