import { mkdtemp, open, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { JsonRecord } from '../../ports';
import { LOADED_AT_COLUMN } from '../../warehouse';
import { ident } from './duckdb-tables';

/** DuckDB's own default; raised per load to fit the longest record. */
const DEFAULT_MAX_JSON_OBJECT_BYTES = 16 * 1024 * 1024;

export interface NdjsonFile {
  /** The private temp directory holding the file; removed after the load. */
  readonly dir: string;
  readonly path: string;
  /** Passed to read_json, which otherwise refuses records above 16 MiB. */
  readonly maxObjectBytes: number;
  /** Whether any record has its own `_loaded_at`, which the load time replaces. */
  readonly hasLoadedAt: boolean;
}

/**
 * read_json settings: one record per line; every record is sampled so a key seen only in the
 * last record still gets a column; objects are never guessed to be MAPs (DuckDB does that for
 * wide or sparse objects, and then refuses to read them as records).
 */
export const READ_JSON =
  "read_json($1, format = 'newline_delimited', records = true, sample_size = -1, map_inference_threshold = -1, maximum_object_size = $2)";

export function withLoadedAt(file: NdjsonFile): string {
  const loadedAt = ident(LOADED_AT_COLUMN);
  return file.hasLoadedAt ? `* REPLACE (now() AS ${loadedAt})` : `*, now() AS ${loadedAt}`;
}

/**
 * Writes `records` as NDJSON to a private temp directory (inside `parent`: the one directory the
 * warehouse lets DuckDB read) for read_json; removes it on failure.
 */
export async function writeNdjsonFile(records: readonly JsonRecord[], parent = tmpdir()): Promise<NdjsonFile> {
  const dir = await mkdtemp(path.join(parent, 'changefeed-load-'));
  try {
    const filePath = path.join(dir, 'records.ndjson');
    const handle = await open(filePath, 'wx', 0o600);
    let longest = 0;
    let hasLoadedAt = false;
    try {
      let chunk: string[] = [];
      let chunkChars = 0;
      for (const record of records) {
        const line = JSON.stringify(record);
        longest = Math.max(longest, Buffer.byteLength(line));
        hasLoadedAt ||= Object.hasOwn(record, LOADED_AT_COLUMN);
        chunk.push(line);
        chunkChars += line.length + 1;
        if (chunkChars >= NDJSON_CHUNK_CHARS) {
          await handle.write(`${chunk.join('\n')}\n`);
          chunk = [];
          chunkChars = 0;
        }
      }
      if (chunk.length > 0) await handle.write(`${chunk.join('\n')}\n`);
    } finally {
      await handle.close();
    }
    return { dir, path: filePath, maxObjectBytes: Math.max(DEFAULT_MAX_JSON_OBJECT_BYTES, longest + 1), hasLoadedAt };
  } catch (e: unknown) {
    await rm(dir, { recursive: true, force: true });
    throw e;
  }
}

/** Written in pieces of about this many characters, so a large load never builds one huge string. */
const NDJSON_CHUNK_CHARS = 1024 * 1024;
