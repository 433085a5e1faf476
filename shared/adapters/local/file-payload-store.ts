import { randomBytes } from 'node:crypto';
import { mkdir, open, readFile, rename, rm } from 'node:fs/promises';
import path from 'node:path';
import { AppError, errorMessage } from '../../errors';
import type { PayloadRef, PayloadStore } from '../../ports';
import { foreignLocation, isPayloadSha256, payloadSha256, verifyPayload } from '../../payloads/verify-payload';

const DIR_MODE = 0o700;
const FILE_MODE = 0o600;

/**
 * The claim check's store in local mode: one file per payload under `<data-dir>/payloads`, named by
 * its SHA-256 and fanned out by its first two hex digits. The location an event carries is the path
 * relative to the data directory; the store reads only the path it derives from the hash itself, so
 * an event can never make the loader read another file.
 *
 * A payload is written under a temporary name, flushed to disk and renamed, so a reader never sees
 * half of one, and it is durable before the event that refers to it is published.
 */
export class FilePayloadStore implements PayloadStore {
  readonly description: string;

  /** `dir`: `<data-dir>/payloads`; locations are relative to its parent. */
  constructor(private readonly dir: string) {
    this.description = dir;
  }

  async put(data: Buffer): Promise<PayloadRef> {
    const sha256 = payloadSha256(data);
    const ref = { location: this.locationOf(sha256), sha256, bytes: data.length };
    const file = this.fileOf(sha256);
    try {
      await mkdir(path.dirname(file), { recursive: true, mode: DIR_MODE });
      const temporary = `${file}.${randomBytes(6).toString('hex')}.tmp`;
      const handle = await open(temporary, 'wx', FILE_MODE);
      try {
        await handle.writeFile(data);
        await handle.sync();
      } finally {
        await handle.close();
      }
      // Same content, same name: a payload written again simply replaces its twin.
      await rename(temporary, file).catch(async (e: unknown) => {
        await rm(temporary, { force: true });
        throw e;
      });
      await syncDir(path.dirname(file));
    } catch (e: unknown) {
      throw new AppError(
        'PAYLOAD.UNAVAILABLE',
        `could not store a payload of ${data.length} bytes in ${this.dir}: ${errorMessage(e)}`,
        {
          retryable: true,
          cause: e,
        },
      );
    }
    return ref;
  }

  async get(ref: PayloadRef): Promise<Buffer> {
    if (!isPayloadSha256(ref.sha256) || ref.location !== this.locationOf(ref.sha256)) {
      throw foreignLocation(ref, this.dir);
    }
    let data: Buffer;
    try {
      data = await readFile(this.fileOf(ref.sha256));
    } catch (e: unknown) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') {
        throw new AppError('PAYLOAD.NOT_FOUND', `payload ${ref.location} is not in ${this.dir}`, {
          retryable: true,
          details: { location: ref.location },
        });
      }
      throw new AppError('PAYLOAD.UNAVAILABLE', `could not read payload ${ref.location}: ${errorMessage(e)}`, {
        retryable: true,
        cause: e,
      });
    }
    return verifyPayload(ref, data);
  }

  close(): Promise<void> {
    return Promise.resolve();
  }

  private locationOf(sha256: string): string {
    return `${path.basename(this.dir)}/${sha256.slice(0, 2)}/${sha256}`;
  }

  private fileOf(sha256: string): string {
    return path.join(this.dir, sha256.slice(0, 2), sha256);
  }
}

/** A rename is durable once the directory holding it is flushed. */
async function syncDir(dir: string): Promise<void> {
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}
