import { randomUUID } from 'node:crypto';
import { PubSub } from '@google-cloud/pubsub';
import {
  deadLetterTopicFor,
  ensureDataset,
  ensurePubSubResources,
  pubSubResourcePlan,
  setUpGcpResources,
  type ResourceReport,
} from '@changefeed/shared/adapters/gcp';
import { parseConfig, type Config } from '@changefeed/shared/config';
import { ValidationError } from '@changefeed/shared/errors';
import { BIGQUERY_TEST_PROJECT } from '../../emulators/bigquery';
import { emulatorBigqueryClients, nativeBigQuerySdk } from '../../support/bigquery-emulator-clients';

/**
 * `changefeed gcp setup`'s resource logic against the Pub/Sub and BigQuery emulators: what it
 * creates and with which settings, that a second run finds everything, and what it says about an
 * existing subscription set up differently. The CLI around it is covered by
 * tests/e2e/gcp-cli-run.test.ts.
 */
const PROJECT = BIGQUERY_TEST_PROJECT;
let pubsub: PubSub;
const cleanups: (() => Promise<unknown>)[] = [];

beforeAll(() => {
  pubsub = new PubSub({ projectId: PROJECT });
});
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => undefined);
});
afterAll(() => pubsub.close());

function configFor(id: string, extra = ''): Config {
  return parseConfig(
    `backend: gcp
gcp:
  projectId: ${PROJECT}
  pubsub: { topic: setup-${id}-events, deadLetterSubscription: setup-${id}-dead-letters-pull }
  bigquery: { dataset: setup_${id.replace(/-/g, '_')} }
loader:
  delivery: pull
  pull: { subscription: setup-${id}-loader${extra.includes('exactlyOnce') ? ', exactlyOnce: true' : ''} }
bus: { maxDeliveryAttempts: 3, minBackoff: 2s, maxBackoff: 20m }
sources:
  - { name: carts, mode: stream, request: { url: "http://127.0.0.1:9/carts" }, idField: id, table: carts }
`,
    'setup.yaml',
  );
}

/** Deletes what a plan names once the test is done, so suites can share the emulator. */
function cleanUp(names: readonly string[]): void {
  cleanups.push(async () => {
    for (const name of names) {
      if (name.includes('/subscriptions/'))
        await pubsub
          .subscription(name)
          .delete()
          .catch(() => undefined);
    }
    for (const name of names)
      if (name.includes('/topics/'))
        await pubsub
          .topic(name)
          .delete()
          .catch(() => undefined);
  });
}

const byRole = (reports: readonly ResourceReport[], role: string): ResourceReport | undefined =>
  reports.find((r) => r.role === role);

describe('gcp setup on the emulators', () => {
  it('creates the topics and subscriptions as Terraform does, then finds them all on a second run', async () => {
    const id = randomUUID().slice(0, 8);
    const config = configFor(id, 'exactlyOnce');
    const plan = pubSubResourcePlan(config, PROJECT, { deadLetterTopicSetting: '--dead-letter-topic' });
    cleanUp([plan.loaderSubscription?.name ?? '', plan.deadLetterSubscription, plan.topic, plan.deadLetterTopic]);

    const first = await ensurePubSubResources(pubsub, plan);
    expect(first.map((r) => [r.status, r.role, r.name])).toEqual([
      ['created', 'events topic', `projects/${PROJECT}/topics/setup-${id}-events`],
      ['created', 'dead-letter topic', `projects/${PROJECT}/topics/setup-${id}-dead-letters`],
      ['created', 'loader pull subscription', `projects/${PROJECT}/subscriptions/setup-${id}-loader`],
      ['created', 'dead-letter subscription', `projects/${PROJECT}/subscriptions/setup-${id}-dead-letters-pull`],
    ]);
    // Pub/Sub's ranges: at least 5 delivery attempts, backoff at most 600 s.
    expect(byRole(first, 'loader pull subscription')?.notes).toEqual([
      'bus.maxDeliveryAttempts is 3; Pub/Sub takes 5 to 100, so 5',
      'bus.maxBackoff is 1200 s; Pub/Sub takes 0 to 600 s, so 600 s',
    ]);
    const [loader] = await pubsub.subscription(plan.loaderSubscription?.name ?? '').getMetadata();
    expect(loader).toMatchObject({
      topic: plan.topic,
      enableMessageOrdering: true,
      enableExactlyOnceDelivery: true,
      ackDeadlineSeconds: 60,
      deadLetterPolicy: { deadLetterTopic: plan.deadLetterTopic, maxDeliveryAttempts: 5 },
      retryPolicy: { minimumBackoff: { seconds: '2' }, maximumBackoff: { seconds: '600' } },
    });
    const [deadLetters] = await pubsub.subscription(plan.deadLetterSubscription).getMetadata();
    expect(deadLetters.topic).toBe(plan.deadLetterTopic);

    const second = await ensurePubSubResources(pubsub, plan);
    expect(second.map((r) => r.status)).toEqual(['exists', 'exists', 'exists', 'exists']);
    expect(second.flatMap((r) => r.warnings)).toEqual([]);
  });

  it('leaves an existing subscription set up differently alone, and says what differs', async () => {
    const id = randomUUID().slice(0, 8);
    const config = configFor(id);
    const plan = pubSubResourcePlan(config, PROJECT, { deadLetterTopicSetting: '--dead-letter-topic' });
    const loaderName = plan.loaderSubscription?.name ?? '';
    cleanUp([loaderName, plan.deadLetterSubscription, plan.topic, plan.deadLetterTopic]);
    const [topic] = await pubsub.createTopic(plan.topic);
    await topic.createSubscription(loaderName, { enableMessageOrdering: false });

    const reports = await ensurePubSubResources(pubsub, plan);

    const loader = byRole(reports, 'loader pull subscription');
    expect(loader?.status).toBe('exists');
    expect(loader?.warnings).toEqual([
      expect.stringContaining('it has no message ordering'),
      expect.stringContaining('it has no dead-letter policy'),
    ]);
    const [metadata] = await pubsub.subscription(loaderName).getMetadata();
    expect(metadata.enableMessageOrdering).toBe(false);
    expect(byRole(reports, 'events topic')?.status).toBe('exists');
    expect(byRole(reports, 'dead-letter topic')?.status).toBe('created');
  });

  it('a name Pub/Sub would refuse fails before any call, naming the setting', () => {
    const config = configFor('x');
    const bad = { ...config, loader: { ...config.loader, pull: { ...config.loader.pull, subscription: 'goog-no' } } };
    expect(() =>
      pubSubResourcePlan(bad, PROJECT, { deadLetterTopicSetting: '--dead-letter-topic', configFile: 'f.yaml' }),
    ).toThrow(ValidationError);
    expect(() =>
      pubSubResourcePlan(bad, PROJECT, { deadLetterTopicSetting: '--dead-letter-topic', configFile: 'f.yaml' }),
    ).toThrow('f.yaml: loader.pull.subscription: invalid Pub/Sub subscription name "goog-no"');
    expect(() =>
      pubSubResourcePlan(config, PROJECT, { deadLetterTopic: 'a b', deadLetterTopicSetting: '--dead-letter-topic' }),
    ).toThrow('--dead-letter-topic: invalid Pub/Sub topic name "a b"');
  });

  it('names the dead-letter topic after the events topic, as Terraform does for the default', () => {
    expect(deadLetterTopicFor('changefeed-events')).toBe('changefeed-dead-letters');
    expect(deadLetterTopicFor('orders')).toBe('orders-dead-letters');
    expect(deadLetterTopicFor('projects/p-1/topics/orders-events')).toBe('projects/p-1/topics/orders-dead-letters');
  });

  it('creates the BigQuery dataset once, then reports it exists', async () => {
    const dataset = `setup_${randomUUID().slice(0, 8)}`;
    const { bigquery, writer } = emulatorBigqueryClients(dataset);
    cleanups.push(async () => {
      writer.close();
      await bigquery.dataset(dataset).delete({ force: true });
    });
    const target = { projectId: PROJECT, dataset, location: 'US' };
    expect(await ensureDataset(bigquery, target)).toMatchObject({
      status: 'created',
      name: `${PROJECT}.${dataset}`,
      warnings: [],
    });
    expect(await ensureDataset(bigquery, target)).toMatchObject({ status: 'exists', warnings: [] });
  });

  it('setUpGcpResources does all of it with the clients the environment points at', async () => {
    const id = randomUUID().slice(0, 8);
    const config = configFor(id);
    const plan = pubSubResourcePlan(config, PROJECT, { deadLetterTopicSetting: '--dead-letter-topic' });
    cleanUp([plan.loaderSubscription?.name ?? '', plan.deadLetterSubscription, plan.topic, plan.deadLetterTopic]);
    const reports = await setUpGcpResources(config, PROJECT, plan, process.env, { bigquerySdk: nativeBigQuerySdk });
    expect(reports.map((r) => `${r.status} ${r.kind}`)).toEqual([
      'created topic',
      'created topic',
      'created subscription',
      'created subscription',
      'created dataset',
    ]);
  });
});
