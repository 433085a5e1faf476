import { mkdtemp, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { FilePayloadStore } from '@changefeed/shared/adapters/local';
import { AppError } from '@changefeed/shared/errors';
import { payloadSha256 } from '@changefeed/shared/payloads';

describe('FilePayloadStore', () => {
  let dataDir: string;
  let store: FilePayloadStore;
  beforeEach(async () => {
    dataDir = await mkdtemp(path.join(tmpdir(), 'changefeed-payloads-'));
    store = new FilePayloadStore(path.join(dataDir, 'payloads'));
  });
  afterEach(() => rm(dataDir, { recursive: true, force: true }));

  const codeOf = async (p: Promise<unknown>): Promise<{ code: string; retryable: boolean }> => {
    try {
      await p;
    } catch (e: unknown) {
      if (e instanceof AppError) return { code: e.code, retryable: e.retryable };
      throw e;
    }
    throw new Error('expected a failure');
  };

  it('gives back exactly what it stored, under a location derived from the hash, readable by its owner only', async () => {
    const data = Buffer.from(JSON.stringify({ id: 1, blob: 'x'.repeat(100_000) }));
    const ref = await store.put(data);
    expect(ref).toEqual({
      location: `payloads/${ref.sha256.slice(0, 2)}/${ref.sha256}`,
      sha256: payloadSha256(data),
      bytes: data.length,
    });
    expect((await store.get(ref)).equals(data)).toBe(true);
    const file = path.join(dataDir, ref.location);
    expect((await stat(file)).mode & 0o777).toBe(0o600);
    expect((await stat(path.dirname(file))).mode & 0o777).toBe(0o700);
  });

  it('stores the same content once, whoever puts it again, and leaves no temporary file', async () => {
    const data = Buffer.from('{"same":true}');
    const [a, b] = await Promise.all([store.put(data), store.put(data)]);
    expect(b).toEqual(a);
    const dir = path.join(dataDir, 'payloads', a.sha256.slice(0, 2));
    expect(await readdir(dir)).toEqual([a.sha256]);
  });

  it('reads no location it would not have given out for that hash, without touching the disk', async () => {
    const ref = await store.put(Buffer.from('{"a":1}'));
    await writeFile(path.join(dataDir, 'secret'), 'not a payload');
    for (const location of [
      '../secret',
      path.join(dataDir, 'secret'),
      `payloads/${ref.sha256.slice(0, 2)}/../../secret`,
      `other/${ref.sha256.slice(0, 2)}/${ref.sha256}`,
      `payloads/00/${ref.sha256}`,
    ]) {
      expect(await codeOf(store.get({ ...ref, location }))).toEqual({
        code: 'PAYLOAD.FOREIGN_LOCATION',
        retryable: false,
      });
    }
    expect(await codeOf(store.get({ ...ref, sha256: '../../secret' }))).toEqual({
      code: 'PAYLOAD.FOREIGN_LOCATION',
      retryable: false,
    });
  });

  it('a payload that is not there is NOT_FOUND and worth retrying; one that changed is CORRUPT for good', async () => {
    const data = Buffer.from('{"a":1}');
    const ref = await store.put(data);
    const file = path.join(dataDir, ref.location);
    await writeFile(file, '{"a":2}');
    expect(await codeOf(store.get(ref))).toEqual({ code: 'PAYLOAD.CORRUPT', retryable: false });
    await writeFile(file, '{"a":1, "longer": true}');
    expect(await codeOf(store.get(ref))).toEqual({ code: 'PAYLOAD.CORRUPT', retryable: false });
    await rm(file);
    expect(await codeOf(store.get(ref))).toEqual({ code: 'PAYLOAD.NOT_FOUND', retryable: true });
  });

  it('a store it cannot write to fails the put as UNAVAILABLE, naming the directory', async () => {
    await writeFile(path.join(dataDir, 'payloads'), 'a file where the directory should be');
    await expect(store.put(Buffer.from('{}'))).rejects.toThrow(/could not store a payload of 2 bytes in .*payloads/);
  });
});
