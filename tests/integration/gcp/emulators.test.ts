import { Firestore } from '@google-cloud/firestore';
import { PubSub } from '@google-cloud/pubsub';

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
});
