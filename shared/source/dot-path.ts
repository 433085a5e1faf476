import { z } from 'zod';

/**
 * The value at a dot path such as `data.items` or `id` (config's `recordsPath`, `idField`,
 * `nextCursorPath`, `cursorField`), or undefined when any step is missing or not an object.
 * Array elements are reached by numeric steps (`items.0.id`).
 */
export function readPath(value: unknown, path: string): unknown {
  return readSteps(value, path.split('.'));
}

/** `readPath` with the path already split, for callers that read the same path from many values. */
export function readSteps(value: unknown, steps: readonly string[]): unknown {
  let current: unknown = value;
  for (const step of steps) {
    if (current === null || typeof current !== 'object') return undefined;
    if (!Object.prototype.hasOwnProperty.call(current, step)) return undefined;
    current = (current as Record<string, unknown>)[step];
  }
  return current;
}

/** How a JSON value is described in error messages: "an object", "a string", "null"... */
export function describeJson(value: unknown): string {
  if (value === null) return 'null';
  if (value === undefined) return 'nothing';
  if (Array.isArray(value)) return 'an array';
  const type = typeof value;
  return type === 'object' ? 'an object' : `a ${type}`;
}

/** A dot path into a JSON value in the config, e.g. `data.items` or `id`. */
export const dotPathSchema = z.string().regex(/^[^.\s]+(\.[^.\s]+)*$/, 'expected a dot path such as "id" or "data.id"');
