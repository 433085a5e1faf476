import { Writable } from 'node:stream';
import { createLogger, type Logger } from '@changefeed/shared/log';
import type {
  Clock,
  CursorStore,
  FetchOptions,
  JsonRecord,
  ReferenceLoader,
  RunLog,
  RunRecord,
  SourceClient,
  SourcePage,
} from '@changefeed/shared/ports';

/**
 * A clock whose sleeps return at once and move time forward by what was asked: tests assert the
 * waits that were requested (`sleeps`) instead of measuring wall time.
 */
export class FakeClock implements Clock {
  readonly sleeps: number[] = [];
  private nowMs: number;

  constructor(start = '2024-06-01T00:00:00.000Z') {
    this.nowMs = Date.parse(start);
  }

  now(): Date {
    return new Date(this.nowMs);
  }

  advance(ms: number): void {
    this.nowMs += ms;
  }

  sleep(ms: number, signal?: AbortSignal): Promise<void> {
    if (signal?.aborted === true) return Promise.reject(new Error('aborted'));
    this.sleeps.push(ms);
    this.nowMs += ms;
    return Promise.resolve();
  }
}

/** Everything a logger wrote, parsed: `lines` holds one object per log line. */
export interface CapturedLog {
  readonly logger: Logger;
  readonly lines: Record<string, unknown>[];
  /** All output as text, to check that no secret appears anywhere. */
  text(): string;
}

export function captureLog(component = 'test'): CapturedLog {
  const raw: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer | string, _encoding, callback) {
      raw.push(chunk.toString());
      callback();
    },
  });
  const logger = createLogger(component, { level: 'debug', stream });
  return {
    logger,
    get lines() {
      return raw
        .join('')
        .split('\n')
        .filter((l) => l.trim() !== '')
        .map((l) => JSON.parse(l) as Record<string, unknown>);
    },
    text: () => raw.join(''),
  };
}

/** A source client that yields the given pages, or fails after some of them. */
export class FakeSourceClient implements SourceClient {
  readonly calls: FetchOptions[] = [];

  constructor(
    private readonly pages: readonly (readonly unknown[])[],
    private readonly failAfterPages?: { readonly pages: number; readonly error: Error },
  ) {}

  async *fetchPages(options: FetchOptions = {}): AsyncGenerator<SourcePage> {
    this.calls.push(options);
    for (const [i, records] of this.pages.entries()) {
      if (this.failAfterPages !== undefined && i >= this.failAfterPages.pages) throw this.failAfterPages.error;
      await Promise.resolve();
      yield { records, bytes: JSON.stringify(records).length };
    }
    if (this.failAfterPages !== undefined && this.failAfterPages.pages >= this.pages.length) {
      throw this.failAfterPages.error;
    }
  }
}

/** Reference tables in memory, keyed as the real loaders key them. */
export class FakeReferenceLoader implements ReferenceLoader {
  readonly tables = new Map<string, JsonRecord[]>();
  readonly calls: { op: 'replace' | 'merge'; table: string; count: number; keyField?: string }[] = [];
  /** When set, the next write rejects with it (and writes nothing). */
  failNext: Error | undefined;

  replaceTable(table: string, records: readonly JsonRecord[]): Promise<number> {
    this.calls.push({ op: 'replace', table, count: records.length });
    const failure = this.takeFailure();
    if (failure !== undefined) return Promise.reject(failure);
    this.tables.set(table, [...records]);
    return Promise.resolve(records.length);
  }

  mergeRecords(table: string, records: readonly JsonRecord[], keyField: string): Promise<number> {
    this.calls.push({ op: 'merge', table, count: records.length, keyField });
    const failure = this.takeFailure();
    if (failure !== undefined) return Promise.reject(failure);
    const rows = this.tables.get(table) ?? [];
    for (const record of records) {
      const key = JSON.stringify(readKey(record, keyField));
      const at = rows.findIndex((row) => JSON.stringify(readKey(row, keyField)) === key);
      if (at >= 0) rows[at] = record;
      else rows.push(record);
    }
    this.tables.set(table, rows);
    return Promise.resolve(records.length);
  }

  private takeFailure(): Error | undefined {
    const failure = this.failNext;
    this.failNext = undefined;
    return failure;
  }
}

function readKey(record: JsonRecord, path: string): unknown {
  let current: unknown = record;
  for (const step of path.split('.')) {
    if (current === null || typeof current !== 'object') return undefined;
    current = (current as Record<string, unknown>)[step];
  }
  return current;
}

export class FakeRunLog implements RunLog {
  readonly runs: RunRecord[] = [];
  failNext: Error | undefined;

  recordRun(run: RunRecord): Promise<void> {
    const failure = this.failNext;
    this.failNext = undefined;
    if (failure !== undefined) return Promise.reject(failure);
    this.runs.push(run);
    return Promise.resolve();
  }
}

/** A CursorStore (the cursor half of SnapshotStore), in memory. */
export class MemoryCursorStore implements CursorStore {
  readonly cursors = new Map<string, string>();
  readonly writes: { source: string; cursor: string }[] = [];

  getCursor(source: string): Promise<string | undefined> {
    return Promise.resolve(this.cursors.get(source));
  }

  setCursor(source: string, cursor: string): Promise<void> {
    this.writes.push({ source, cursor });
    this.cursors.set(source, cursor);
    return Promise.resolve();
  }
}

/** Run ids run-1, run-2... so audit rows can be asserted exactly. */
export function sequentialIds(prefix = 'run'): () => string {
  let n = 0;
  return () => `${prefix}-${++n}`;
}
