import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { Table } from '@google-cloud/bigquery';
import type { WriterRow } from './bigquery-tables';

/**
 * Load jobs of newline-delimited JSON into an existing table: how reference tables reach their
 * staging table, and how a change row too large for an AppendRows request reaches `_changes`.
 * A load job is atomic (all its rows land or none) and costs no query bytes; its rows may be up to
 * 100 MB each. https://cloud.google.com/bigquery/docs/loading-data-local
 * https://cloud.google.com/bigquery/quotas#load_jobs
 */

/** Lines are sent in pieces of about this many characters, so a large load never builds one huge string. */
const NDJSON_PIECE_CHARS = 1024 * 1024;

/** Joins NDJSON lines (without their newline) into pieces of about 1 MiB, each ending in a newline. */
export function* ndjsonPieces(lines: Iterable<string>): Generator<string> {
  let piece: string[] = [];
  let pieceChars = 0;
  for (const line of lines) {
    piece.push(line);
    pieceChars += line.length + 1;
    if (pieceChars >= NDJSON_PIECE_CHARS) {
      yield `${piece.join('\n')}\n`;
      piece = [];
      pieceChars = 0;
    }
  }
  if (piece.length > 0) yield `${piece.join('\n')}\n`;
}

/**
 * Appends the NDJSON `pieces` to `table` (which must exist) in one load job; resolves once the job
 * has completed, and rejects with the job's error (a failed job destroys the upload stream).
 */
export async function loadNdjson(table: Table, pieces: Iterable<string>): Promise<void> {
  const upload = table.createWriteStream({
    sourceFormat: 'NEWLINE_DELIMITED_JSON',
    writeDisposition: 'WRITE_APPEND',
    createDisposition: 'CREATE_NEVER',
  });
  await pipeline(Readable.from(pieces), upload);
}

/**
 * One row the Storage Write path would have sent, as an NDJSON line for a load job: a JSON column's
 * text goes in as the JSON itself (a load job reads a JSON column's value as JSON, not as text
 * holding JSON), spliced unparsed so that numbers beyond a double keep their digits; a TIMESTAMP as
 * its ISO text. The text was checked to be JSON (`checkedValue`), so a line break in it is
 * whitespace between tokens (JSON strings cannot hold one raw) and becomes a space: NDJSON is one
 * record per line.
 * https://cloud.google.com/bigquery/docs/loading-data-cloud-storage-json#loading_json_data_into_a_json_column
 */
export function writerRowLine(row: WriterRow, jsonColumns: ReadonlySet<string>): string {
  const fields = Object.entries(row).map(([name, value]) => {
    const text =
      jsonColumns.has(name) && typeof value === 'string' ? value.replace(/[\r\n]/g, ' ') : JSON.stringify(value);
    return `${JSON.stringify(name)}:${text}`;
  });
  return `{${fields.join(',')}}`;
}
