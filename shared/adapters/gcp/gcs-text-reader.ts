import type { Storage } from '@google-cloud/storage';
import { AppError } from '../../errors';

/** Reads a small text object such as the config file from `gs://bucket/path`. */
export async function readGcsText(storage: Storage, url: string): Promise<string> {
  const match = /^gs:\/\/([^/]+)\/(.+)$/.exec(url);
  if (match === null) {
    throw new AppError('CONFIG.BAD_LOCATION', `${url}: expected gs://bucket/object`);
  }
  const [, bucket = '', object = ''] = match;
  try {
    const [contents] = await storage.bucket(bucket).file(object).download();
    return contents.toString('utf8');
  } catch (e: unknown) {
    const code = (e as { code?: unknown }).code;
    throw new AppError(
      'CONFIG.UNREADABLE',
      `cannot read config file ${url}: ${e instanceof Error ? e.message : String(e)}`,
      // 404 and 403 will not heal by retrying; anything else (network, 5xx) might.
      { cause: e, retryable: code !== 404 && code !== 403 },
    );
  }
}
