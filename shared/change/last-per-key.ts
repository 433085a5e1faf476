import { AppError } from '../errors';
import type { JsonRecord } from '../ports';
import { readPath } from '../source/dot-path';

/**
 * Keeps the last record per key, in first-seen order; records without a key are all kept. Both
 * warehouses merge with it, so a batch that repeats an id upserts the same row everywhere.
 */
export function lastPerKey(records: readonly JsonRecord[], keyPath: readonly string[]): JsonRecord[] {
  const byKey = new Map<string, JsonRecord>();
  const keyless: JsonRecord[] = [];
  const path = keyPath.join('.');
  for (const record of records) {
    const key = readPath(record, path);
    if (key === undefined || key === null) keyless.push(record);
    else byKey.set(JSON.stringify(key), record);
  }
  return [...byKey.values(), ...keyless];
}

/** A merge key such as `data.id` as its steps; an empty step can never name a column. */
export function parseKeyPath(keyField: string): string[] {
  const steps = keyField.split('.');
  if (steps.some((s) => s === '')) {
    throw new AppError('WAREHOUSE.INVALID_KEY', `The merge key "${keyField}" is not a dot path such as data.id`, {
      retryable: false,
    });
  }
  return steps;
}
