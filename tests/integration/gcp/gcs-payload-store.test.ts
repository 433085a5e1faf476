import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Storage } from '@google-cloud/storage';
import { GcsPayloadStore, createGcsPayloadStore, createStorageClient } from '@changefeed/shared/adapters/gcp';
import { parseConfig, type Config } from '@changefeed/shared/config';
import { AppError } from '@changefeed/shared/errors';
import type { PayloadRef } from '@changefeed/shared/ports';

/**
 * The claim check's Cloud Storage store against fake-gcs-server (tests/global-setup.ts starts it
 * and sets STORAGE_EMULATOR_HOST), with the official client built as the services build it.
 */
const PROJECT = 'changefeed-test';
const PREFIX = 'payloads/';

let storage: Storage;
let bucket: string;
let store: GcsPayloadStore;

function configWith(storageBlock: string): Config {
  return parseConfig(
    `backend: gcp
gcp:
  projectId: ${PROJECT}
  storage: ${storageBlock}
sources:
  - { name: carts, mode: stream, request: { url: "http://127.0.0.1:9/carts" }, idField: id, table: carts }
`,
    'changefeed.yaml',
  );
}

function openStore(bucketName: string): GcsPayloadStore {
  const opened = createGcsPayloadStore(configWith(`{ payloadBucket: ${bucketName} }`), PROJECT, process.env);
  if (opened === undefined) throw new Error('a config with payloadBucket gave no store');
  return opened;
}

async function rejection(promise: Promise<unknown>): Promise<AppError> {
  const error: unknown = await promise.then(
    () => new Error('expected a rejection'),
    (e: unknown) => e,
  );
  if (!(error instanceof AppError)) throw error;
  return error;
}

async function objectsUnderPrefix(): Promise<string[]> {
  const [files] = await storage.bucket(bucket).getFiles({ prefix: PREFIX });
  return files.map((f) => f.name);
}

beforeAll(async () => {
  storage = createStorageClient(configWith('{}').gcp.storage, PROJECT, process.env);
  bucket = `payloads-${Date.now()}-${process.pid}`;
  await storage.createBucket(bucket);
  store = openStore(bucket);
});

afterAll(async () => {
  await store.close();
  await storage
    .bucket(bucket)
    .deleteFiles({ force: true })
    .catch(() => undefined);
});

describe('createGcsPayloadStore', () => {
  it('gives no store when gcp.storage.payloadBucket is absent', () => {
    expect(createGcsPayloadStore(configWith('{}'), PROJECT, process.env)).toBeUndefined();
  });

  it('describes the bucket and prefix it writes to', () => {
    expect(store.description).toBe(`gs://${bucket}/${PREFIX}`);
  });
});

describe('GcsPayloadStore on the emulator', () => {
  it('stores a payload under its hash and reads the same bytes back', async () => {
    const data = Buffer.from(JSON.stringify({ id: 'cart-1', items: ['a', 'b'] }));

    const ref = await store.put(data);

    expect(ref.sha256).toMatch(/^[0-9a-f]{64}$/);
    expect(ref).toEqual({ location: `gs://${bucket}/${PREFIX}${ref.sha256}`, sha256: ref.sha256, bytes: data.length });
    expect(await store.get(ref)).toEqual(data);
    const [metadata] = await storage.bucket(bucket).file(`${PREFIX}${ref.sha256}`).getMetadata();
    expect(metadata.metadata).toEqual({ sha256: ref.sha256 });
  });

  it('storing the same payload again gives the same reference and leaves the one object as it was', async () => {
    const data = Buffer.from('the same record, twice');
    const first = await store.put(data);
    const file = storage.bucket(bucket).file(`${PREFIX}${first.sha256}`);
    const [before] = await file.getMetadata();

    const second = await store.put(data);

    expect(second).toEqual(first);
    const [after] = await file.getMetadata();
    expect(after.generation).toBe(before.generation);
    expect((await objectsUnderPrefix()).filter((name) => name.endsWith(first.sha256))).toHaveLength(1);
  });

  it('a 13 MB payload goes up (resumable) and comes back whole, and a second put of it is a no-op', async () => {
    const data = Buffer.alloc(13 * 1000 * 1000);
    for (let i = 0; i < data.length; i += 4096) data.writeUInt32BE(i, i);

    const ref = await store.put(data);
    const [before] = await storage.bucket(bucket).file(`${PREFIX}${ref.sha256}`).getMetadata();
    const again = await store.put(data);
    const read = await store.get(ref);

    expect(ref.bytes).toBe(data.length);
    expect(Number(before.size)).toBe(data.length);
    expect(again).toEqual(ref);
    const [after] = await storage.bucket(bucket).file(`${PREFIX}${ref.sha256}`).getMetadata();
    expect(after.generation).toBe(before.generation);
    expect(read.equals(data)).toBe(true);
  });

  it('a payload nobody stored is PAYLOAD.NOT_FOUND, retryable', async () => {
    const sha256 = 'ab'.repeat(32);

    const error = await rejection(store.get({ location: `gs://${bucket}/${PREFIX}${sha256}`, sha256, bytes: 3 }));

    expect(error.code).toBe('PAYLOAD.NOT_FOUND');
    expect(error.retryable).toBe(true);
  });

  it('an object overwritten with other bytes of the same size is PAYLOAD.CORRUPT, not retryable', async () => {
    const ref = await store.put(Buffer.from('original content'));
    await storage.bucket(bucket).file(`${PREFIX}${ref.sha256}`).save(Buffer.from('tampered content'));

    const error = await rejection(store.get(ref));

    expect(error.code).toBe('PAYLOAD.CORRUPT');
    expect(error.retryable).toBe(false);
  });

  it('an object overwritten with fewer bytes is PAYLOAD.CORRUPT too', async () => {
    const ref = await store.put(Buffer.from('a longer original'));
    await storage.bucket(bucket).file(`${PREFIX}${ref.sha256}`).save(Buffer.from('short'));

    const error = await rejection(store.get(ref));

    expect(error.code).toBe('PAYLOAD.CORRUPT');
    expect(error.message).toContain('5 bytes');
  });

  describe('when the bucket does not exist', () => {
    const missing = 'changefeed-no-such-bucket';

    it('put is PAYLOAD.UNAVAILABLE, retryable, naming the bucket and the setting', async () => {
      const error = await rejection(openStore(missing).put(Buffer.from('x')));

      expect(error.code).toBe('PAYLOAD.UNAVAILABLE');
      expect(error.retryable).toBe(true);
      expect(error.message).toContain(`bucket ${missing} does not exist`);
      expect(error.message).toContain('gcp.storage.payloadBucket');
    });

    it('get is PAYLOAD.UNAVAILABLE too, not NOT_FOUND: no object can be there', async () => {
      const sha256 = 'cd'.repeat(32);

      const error = await rejection(
        openStore(missing).get({ location: `gs://${missing}/${PREFIX}${sha256}`, sha256, bytes: 1 }),
      );

      expect(error.code).toBe('PAYLOAD.UNAVAILABLE');
      expect(error.retryable).toBe(true);
      expect(error.message).toContain(`bucket ${missing} does not exist`);
    });
  });
});

describe('GcsPayloadStore refuses a location it would not give out, before any request', () => {
  let server: Server;
  let requests = 0;
  let watched: GcsPayloadStore;

  beforeAll(async () => {
    // A stand-in endpoint that only counts: any request the store made would show here. It answers
    // 404, which the client does not retry.
    server = createServer((_req, res) => {
      requests += 1;
      res.writeHead(404).end();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    watched = new GcsPayloadStore(
      createStorageClient(configWith(`{ apiEndpoint: "http://127.0.0.1:${port}" }`).gcp.storage, PROJECT, {}),
      { bucket, prefix: PREFIX },
    );
  });

  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

  const sha256 = 'ef'.repeat(32);
  const cases: ReadonlyArray<readonly [string, PayloadRef]> = [
    ['another bucket', { location: `gs://other-bucket/${PREFIX}${sha256}`, sha256, bytes: 1 }],
    ['another prefix', { location: `gs://BUCKET/elsewhere/${sha256}`, sha256, bytes: 1 }],
    ['no prefix', { location: `gs://BUCKET/${sha256}`, sha256, bytes: 1 }],
    ['a path traversal', { location: `gs://BUCKET/${PREFIX}../secrets/${sha256}`, sha256, bytes: 1 }],
    ['another hash than the reference', { location: `gs://BUCKET/${PREFIX}${'01'.repeat(32)}`, sha256, bytes: 1 }],
    ['a hash that is a path', { location: `gs://BUCKET/${PREFIX}../x`, sha256: '../x', bytes: 1 }],
    [
      'an uppercase hash',
      { location: `gs://BUCKET/${PREFIX}${sha256.toUpperCase()}`, sha256: sha256.toUpperCase(), bytes: 1 },
    ],
    [
      'a URL of another scheme',
      { location: `https://storage.googleapis.com/BUCKET/${PREFIX}${sha256}`, sha256, bytes: 1 },
    ],
  ];

  it.each(cases)('%s: PAYLOAD.FOREIGN_LOCATION, not retryable', async (_name, ref) => {
    const withBucket = { ...ref, location: ref.location.replace('BUCKET', bucket) };

    const before = requests;

    const error = await rejection(watched.get(withBucket));

    expect(error.code).toBe('PAYLOAD.FOREIGN_LOCATION');
    expect(error.retryable).toBe(false);
    expect(requests).toBe(before);
  });

  it('(the counter sees the requests for a location the store does give out)', async () => {
    const before = requests;

    await rejection(watched.get({ location: `gs://${bucket}/${PREFIX}${sha256}`, sha256, bytes: 1 }));

    expect(requests).toBeGreaterThan(before);
  });
});

describe('GcsPayloadStore when Cloud Storage refuses or cannot be reached', () => {
  let server: Server;
  let denied: GcsPayloadStore;

  function storeAt(endpoint: string): GcsPayloadStore {
    return new GcsPayloadStore(
      createStorageClient(configWith(`{ apiEndpoint: "${endpoint}" }`).gcp.storage, PROJECT, {}),
      { bucket: 'the-payload-bucket', prefix: PREFIX },
    );
  }

  beforeAll(async () => {
    // Answers every request as Cloud Storage answers an account without the role (not retried).
    server = createServer((_req, res) => {
      const error = { code: 403, message: 'caller does not have storage.objects access', errors: [] };
      res.writeHead(403, { 'content-type': 'application/json' }).end(JSON.stringify({ error }));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    denied = storeAt(`http://127.0.0.1:${(server.address() as AddressInfo).port}`);
  });

  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

  it("a denied upload is PAYLOAD.UNAVAILABLE, retryable, naming the bucket and the poller's role", async () => {
    const error = await rejection(denied.put(Buffer.from('x')));

    expect(error.code).toBe('PAYLOAD.UNAVAILABLE');
    expect(error.retryable).toBe(true);
    expect(error.message).toContain('bucket the-payload-bucket');
    expect(error.message).toContain('roles/storage.objectCreator');
    expect(error.details).toMatchObject({ status: 403, access: 'write' });
  });

  it("a denied read is PAYLOAD.UNAVAILABLE, naming the loader's role", async () => {
    const sha256 = '12'.repeat(32);

    const error = await rejection(
      denied.get({ location: `gs://the-payload-bucket/${PREFIX}${sha256}`, sha256, bytes: 1 }),
    );

    expect(error.code).toBe('PAYLOAD.UNAVAILABLE');
    expect(error.retryable).toBe(true);
    expect(error.message).toContain('roles/storage.objectViewer');
  });

  it('an endpoint nobody listens on is PAYLOAD.UNAVAILABLE, retryable', async () => {
    // A port that was free a moment ago: connections to it are refused.
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const { port } = closed.address() as AddressInfo;
    await new Promise<void>((resolve) => closed.close(() => resolve()));

    const error = await rejection(storeAt(`http://127.0.0.1:${port}`).put(Buffer.from('x')));

    expect(error.code).toBe('PAYLOAD.UNAVAILABLE');
    expect(error.retryable).toBe(true);
    expect(error.message).toContain('could not be reached');
  });
});
