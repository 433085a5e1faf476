import { Firestore } from '@google-cloud/firestore';
import { PubSub } from '@google-cloud/pubsub';
import { createStorageClient } from '@changefeed/shared/adapters/gcp';

/** The harness itself: the official clients, unchanged, reach the emulators through the standard variables. */
describe('emulators started by the test setup', () => {
  it('PUBSUB_EMULATOR_HOST points the official Pub/Sub client at a working emulator', async () => {
    expect(process.env['PUBSUB_EMULATOR_HOST']).toMatch(/^127\.0\.0\.1:\d+$/);
    const pubsub = new PubSub({ projectId: 'changefeed-test' });
    const [topic] = await pubsub.createTopic(`harness-${Date.now()}`);
    const [exists] = await topic.exists();
    expect(exists).toBe(true);
    await pubsub.close();
  });

  it('FIRESTORE_EMULATOR_HOST points the official Firestore client at a working emulator', async () => {
    expect(process.env['FIRESTORE_EMULATOR_HOST']).toMatch(/^127\.0\.0\.1:\d+$/);
    const db = new Firestore({ projectId: 'changefeed-test' });
    const ref = db.collection('harness').doc(`d${Date.now()}`);
    await ref.set({ n: 1 });
    expect((await ref.get()).data()).toEqual({ n: 1 });
    await db.terminate();
  });

  // The Node client alone takes the variable verbatim as its JSON API base URL, which no form of it
  // gets right for both the JSON API and uploads; createStorageClient sets both from it.
  it('STORAGE_EMULATOR_HOST points the official Storage client, as createStorageClient makes it, at a working emulator', async () => {
    expect(process.env['STORAGE_EMULATOR_HOST']).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    const storage = createStorageClient({ payloadPrefix: 'payloads/' }, 'changefeed-test', process.env);
    const [bucket] = await storage.createBucket(`harness-${Date.now()}`);
    await bucket.file('o').save('hello');
    const [contents] = await bucket.file('o').download();
    expect(contents.toString()).toBe('hello');
  });
});
