import type { AxiosResponse } from 'axios';
import { describeJson, readPath } from './dot-path';
import { SourceError, SourceErrorCode } from './source-error';

const SNIPPET_CHARS = 60;

/**
 * The response body as JSON, or a SOURCE.BAD_PAYLOAD error naming the source, the (redacted)
 * URL and what came instead. Not retryable: the same request gets the same body.
 */
export function parseJsonBody(source: string, safeUrl: string, response: AxiosResponse<Buffer>): unknown {
  const text = response.data.toString('utf8');
  try {
    return JSON.parse(text) as unknown;
  } catch (e: unknown) {
    const contentType = response.headers['content-type'];
    const type = typeof contentType === 'string' ? contentType : 'no content-type';
    const snippet =
      text.length === 0
        ? 'an empty body'
        : `"${text.slice(0, SNIPPET_CHARS).replace(/\s+/g, ' ')}${text.length > SNIPPET_CHARS ? '…' : ''}"`;
    throw new SourceError(
      SourceErrorCode.badPayload,
      `source "${source}": ${safeUrl} answered HTTP ${response.status} with a body that is not JSON (${type}): ${snippet}`,
      { source, url: safeUrl, status: response.status },
      { retryable: false, cause: e },
    );
  }
}

/** The array of records at `recordsPath` (or the body itself when absent), or SOURCE.BAD_PAYLOAD. */
export function extractRecords(
  source: string,
  safeUrl: string,
  body: unknown,
  recordsPath: string | undefined,
): readonly unknown[] {
  const records = recordsPath === undefined ? body : readPath(body, recordsPath);
  if (Array.isArray(records)) return records as unknown[];
  const where = recordsPath === undefined ? 'the body' : `request.recordsPath "${recordsPath}"`;
  const found =
    recordsPath !== undefined && records === undefined
      ? `nothing there (the body is ${describeWithKeys(body)})`
      : describeWithKeys(records);
  const hint = recordsPath === undefined && isPlainObject(body) ? '; set request.recordsPath to the array' : '';
  throw new SourceError(
    SourceErrorCode.badPayload,
    `source "${source}": ${safeUrl}: expected an array of records at ${where}, found ${found}${hint}`,
    { source, url: safeUrl },
    { retryable: false },
  );
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

function describeWithKeys(value: unknown): string {
  if (!isPlainObject(value)) return describeJson(value);
  const keys = Object.keys(value);
  const shown = keys.slice(0, 10).join(', ');
  return `an object with keys [${shown}${keys.length > 10 ? ', …' : ''}]`;
}
