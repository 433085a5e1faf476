import type { CallOptions, CreateSubscriptionOptions, PubSub, protos } from '@google-cloud/pubsub';
import type { Config } from '../../config';
import { AppError, errorMessage } from '../../errors';
import { classifyPubSubError, grpcStatusOf, GrpcStatus } from './pubsub-errors';
import { pubSubResourceName } from './pubsub-names';
import type { ResourceReport } from './resource-report';

/** Pub/Sub's bounds for the settings a subscription takes from the config. */
const MIN_DELIVERY_ATTEMPTS = 5;
const MAX_DELIVERY_ATTEMPTS = 100;
const MAX_BACKOFF_S = 600;
/**
 * terraform/variables.tf's pull_ack_deadline_seconds: the client extends the lease of what it
 * holds, so this only bounds how soon the messages of a loader that died come back.
 */
const PULL_ACK_DEADLINE_S = 60;
/** terraform/pubsub.tf: undelivered events and dead letters wait the maximum, 7 days. */
const RETENTION_S = 7 * 24 * 60 * 60;
/** terraform/pubsub.tf's dead-letter subscription. */
const DEAD_LETTER_ACK_DEADLINE_S = 60;
/**
 * A lookup gives up after this long, not after the client's 60 s of retries: an emulator that
 * is not running, or a wrong endpoint, should be reported at once.
 */
const LOOKUP_TIMEOUT_MS = 10_000;

/** The loader's pull subscription as the config asks for it, within Pub/Sub's bounds. */
export interface LoaderSubscriptionPlan {
  readonly name: string;
  readonly ackDeadlineSeconds: number;
  readonly maxDeliveryAttempts: number;
  readonly minBackoffSeconds: number;
  readonly maxBackoffSeconds: number;
  readonly exactlyOnce: boolean;
}

/** The Pub/Sub resources of one config, by full name. */
export interface PubSubResourcePlan {
  readonly topic: string;
  readonly deadLetterTopic: string;
  readonly deadLetterSubscription: string;
  /** Absent with `loader.delivery: push`: a push subscription needs the loader's URL and token settings. */
  readonly loaderSubscription?: LoaderSubscriptionPlan;
  /** Config values moved into Pub/Sub's range, in words. */
  readonly adjustments: readonly string[];
}

export interface PubSubPlanOptions {
  /** The dead-letter topic: an id or a full name. Absent: derived from the topic (see deadLetterTopicFor). */
  readonly deadLetterTopic?: string;
  /** Names the flag that set `deadLetterTopic`, for errors. */
  readonly deadLetterTopicSetting: string;
  /** Prefixes the config settings named in errors, e.g. the config file's path. */
  readonly configFile?: string;
}

/**
 * The dead-letter topic of an events topic, when nothing names it: Terraform's name for the
 * default topic (`changefeed-events` → `changefeed-dead-letters`), and `<topic>-dead-letters`
 * otherwise, so that two pipelines in one project never share their dead letters.
 */
export function deadLetterTopicFor(topic: string): string {
  const full = /^(projects\/[^/]+\/topics\/)(.+)$/.exec(topic);
  const prefix = full?.[1] ?? '';
  const id = full?.[2] ?? topic;
  return `${prefix}${id.endsWith('-events') ? id.slice(0, -'-events'.length) : id}-dead-letters`;
}

/**
 * Full names and settings of what `changefeed gcp setup` creates for `config`. Throws
 * ValidationError, naming the setting, for a name Pub/Sub would refuse, before anything is called.
 */
export function pubSubResourcePlan(config: Config, projectId: string, options: PubSubPlanOptions): PubSubResourcePlan {
  const setting = (key: string): string => (options.configFile === undefined ? key : `${options.configFile}: ${key}`);
  const topic = pubSubResourceName('topics', config.gcp.pubsub.topic, projectId, setting('gcp.pubsub.topic'));
  const deadLetterTopic =
    options.deadLetterTopic === undefined
      ? pubSubResourceName(
          'topics',
          deadLetterTopicFor(config.gcp.pubsub.topic),
          projectId,
          `the dead-letter topic derived from ${setting('gcp.pubsub.topic')} (set one with ${options.deadLetterTopicSetting})`,
        )
      : pubSubResourceName('topics', options.deadLetterTopic, projectId, options.deadLetterTopicSetting);
  const deadLetterSubscription = pubSubResourceName(
    'subscriptions',
    config.gcp.pubsub.deadLetterSubscription,
    projectId,
    setting('gcp.pubsub.deadLetterSubscription'),
  );
  const adjustments: string[] = [];
  const within = (key: string, value: number, min: number, max: number, unit: string): number => {
    const bounded = Math.min(max, Math.max(min, value));
    if (bounded !== value) {
      adjustments.push(`${key} is ${value}${unit}; Pub/Sub takes ${min} to ${max}${unit}, so ${bounded}${unit}`);
    }
    return bounded;
  };
  const pull = config.loader.pull;
  const loaderSubscription: LoaderSubscriptionPlan | undefined =
    config.loader.delivery === 'pull'
      ? {
          name: pubSubResourceName('subscriptions', pull.subscription, projectId, setting('loader.pull.subscription')),
          ackDeadlineSeconds: PULL_ACK_DEADLINE_S,
          maxDeliveryAttempts: within(
            'bus.maxDeliveryAttempts',
            config.bus.maxDeliveryAttempts,
            MIN_DELIVERY_ATTEMPTS,
            MAX_DELIVERY_ATTEMPTS,
            '',
          ),
          minBackoffSeconds: within(
            'bus.minBackoff',
            Math.round(config.bus.minBackoff.totalOf('second')),
            0,
            MAX_BACKOFF_S,
            ' s',
          ),
          maxBackoffSeconds: within(
            'bus.maxBackoff',
            Math.round(config.bus.maxBackoff.totalOf('second')),
            0,
            MAX_BACKOFF_S,
            ' s',
          ),
          exactlyOnce: pull.exactlyOnce,
        }
      : undefined;
  return { topic, deadLetterTopic, deadLetterSubscription, loaderSubscription, adjustments };
}

type SubscriptionMetadata = protos.google.pubsub.v1.ISubscription;

/**
 * Creates what `plan` names and is missing, as terraform/pubsub.tf does: the events topic, the
 * dead-letter topic, the loader's pull subscription (message ordering, the dead-letter policy,
 * retry backoff, 7 days of retention, no expiry, exactly-once when configured) and the pull
 * subscription on the dead-letter topic that `changefeed dlq` reads. What exists is left as it is
 * and reported with a warning for each setting that differs in a way that matters. Idempotent; a
 * resource created meanwhile by someone else counts as existing.
 *
 * Not done here, unlike Terraform: granting the Pub/Sub service agent the roles dead-lettering
 * needs (the report says how), and a push subscription (it needs the loader's URL).
 * https://cloud.google.com/pubsub/docs/create-subscription, https://cloud.google.com/pubsub/docs/handling-failures
 */
export async function ensurePubSubResources(pubsub: PubSub, plan: PubSubResourcePlan): Promise<ResourceReport[]> {
  const reports = [
    await ensureTopic(pubsub, plan.topic, 'events topic'),
    await ensureTopic(pubsub, plan.deadLetterTopic, 'dead-letter topic'),
  ];
  const loader = plan.loaderSubscription;
  if (loader === undefined) {
    reports.push({
      kind: 'subscription',
      role: 'loader subscription',
      name: '(push)',
      status: 'skipped',
      warnings: [],
      notes: [
        'loader.delivery is push: the push subscription needs the deployed loader URL and its OIDC settings, ' +
          'so Terraform creates it (terraform/pubsub.tf); set loader.delivery: pull to have it created here',
      ],
    });
  } else {
    reports.push(
      await ensureSubscription(pubsub, loader.name, 'loader pull subscription', {
        topic: plan.topic,
        create: {
          enableMessageOrdering: true,
          ackDeadlineSeconds: loader.ackDeadlineSeconds,
          messageRetentionDuration: { seconds: RETENTION_S },
          retryPolicy: {
            minimumBackoff: { seconds: loader.minBackoffSeconds },
            maximumBackoff: { seconds: loader.maxBackoffSeconds },
          },
          deadLetterPolicy: { deadLetterTopic: plan.deadLetterTopic, maxDeliveryAttempts: loader.maxDeliveryAttempts },
          enableExactlyOnceDelivery: loader.exactlyOnce,
          // A policy without a ttl: never deleted for inactivity (Terraform's `ttl = ""`).
          expirationPolicy: {},
        },
        differences: (metadata) => loaderSubscriptionDifferences(metadata, plan, loader),
        notes: plan.adjustments,
      }),
    );
  }
  reports.push(
    await ensureSubscription(pubsub, plan.deadLetterSubscription, 'dead-letter subscription', {
      topic: plan.deadLetterTopic,
      create: {
        ackDeadlineSeconds: DEAD_LETTER_ACK_DEADLINE_S,
        messageRetentionDuration: { seconds: RETENTION_S },
        retainAckedMessages: false,
        expirationPolicy: {},
      },
      differences: () => [],
      notes: [],
    }),
  );
  return reports;
}

/** The names of the resources among `names` that do not exist (`changefeed run` checks before it starts). */
export async function missingPubSubResources(
  pubsub: PubSub,
  names: { readonly topics: readonly string[]; readonly subscriptions: readonly string[] },
): Promise<string[]> {
  const missing: string[] = [];
  for (const name of names.topics) {
    if ((await lookUp(`looking up topic ${name}`, (o) => pubsub.topic(name).getMetadata(o))) === undefined) {
      missing.push(name);
    }
  }
  for (const name of names.subscriptions) {
    if (
      (await lookUp(`looking up subscription ${name}`, (o) => pubsub.subscription(name).getMetadata(o))) === undefined
    ) {
      missing.push(name);
    }
  }
  return missing;
}

async function ensureTopic(pubsub: PubSub, name: string, role: string): Promise<ResourceReport> {
  const report = { kind: 'topic', role, name, warnings: [], notes: [] } as const;
  const existing = await lookUp(`looking up topic ${name}`, (o) => pubsub.topic(name).getMetadata(o));
  if (existing !== undefined) return { ...report, status: 'exists' };
  const created = await createUnlessExists(`creating topic ${name}`, () => pubsub.createTopic(name));
  return { ...report, status: created ? 'created' : 'exists' };
}

interface SubscriptionSpec {
  /** The topic it must read, full name. */
  readonly topic: string;
  readonly create: CreateSubscriptionOptions;
  /** Warnings about an existing subscription, given its metadata. */
  readonly differences: (metadata: SubscriptionMetadata) => string[];
  readonly notes: readonly string[];
}

async function ensureSubscription(
  pubsub: PubSub,
  name: string,
  role: string,
  spec: SubscriptionSpec,
): Promise<ResourceReport> {
  const report = { kind: 'subscription', role, name, notes: spec.notes } as const;
  const subscription = pubsub.subscription(name);
  const lookUpSubscription = (): Promise<SubscriptionMetadata | undefined> =>
    lookUp(`looking up subscription ${name}`, (o) => subscription.getMetadata(o)).then((r) => r?.[0]);
  let metadata = await lookUpSubscription();
  if (metadata === undefined) {
    const created = await createUnlessExists(`creating subscription ${name}`, () =>
      pubsub.topic(spec.topic).createSubscription(name, spec.create),
    );
    if (created) return { ...report, status: 'created', warnings: [] };
    // Someone else created it meanwhile: compare theirs.
    metadata = await lookUpSubscription();
    if (metadata === undefined)
      throw new AppError('PUBSUB_SETUP.NOT_FOUND', `subscription ${name} vanished while set up`);
  }
  const warnings = metadata.topic === spec.topic ? spec.differences(metadata) : [wrongTopic(metadata, spec.topic)];
  return { ...report, status: 'exists', warnings };
}

function wrongTopic(metadata: SubscriptionMetadata, topic: string): string {
  return `it reads ${metadata.topic ?? '(a deleted topic)'}, not ${topic}: use another subscription name in the config, or delete it and run setup again`;
}

/** Settings of an existing loader subscription that change what the pipeline does. */
function loaderSubscriptionDifferences(
  metadata: SubscriptionMetadata,
  plan: PubSubResourcePlan,
  loader: LoaderSubscriptionPlan,
): string[] {
  const warnings: string[] = [];
  const pushEndpoint = metadata.pushConfig?.pushEndpoint ?? '';
  if (pushEndpoint !== '') {
    warnings.push(`it is a push subscription (to ${pushEndpoint}); the pull loader cannot read it`);
  }
  if (metadata.enableMessageOrdering !== true) {
    warnings.push(
      'it has no message ordering: the changes of one entity may be loaded out of order ' +
        '(ordering cannot be turned on later: delete it and run setup again)',
    );
  }
  const deadLetter = metadata.deadLetterPolicy;
  if (deadLetter?.deadLetterTopic === undefined || deadLetter.deadLetterTopic === null) {
    warnings.push('it has no dead-letter policy: a message that can never be stored is delivered again forever');
  } else {
    if (deadLetter.deadLetterTopic !== plan.deadLetterTopic) {
      warnings.push(
        `it dead-letters to ${deadLetter.deadLetterTopic}, not ${plan.deadLetterTopic} (where ${plan.deadLetterSubscription} reads them)`,
      );
    }
    const attempts = deadLetter.maxDeliveryAttempts ?? MIN_DELIVERY_ATTEMPTS;
    if (attempts !== loader.maxDeliveryAttempts) {
      warnings.push(
        `it dead-letters after ${attempts} delivery attempts, the config after ${loader.maxDeliveryAttempts}`,
      );
    }
  }
  if ((metadata.enableExactlyOnceDelivery === true) !== loader.exactlyOnce) {
    warnings.push(
      `exactly-once delivery is ${metadata.enableExactlyOnceDelivery === true ? 'on' : 'off'}, loader.pull.exactlyOnce is ${String(loader.exactlyOnce)} ` +
        `(gcloud pubsub subscriptions update ${loader.name} --${loader.exactlyOnce ? '' : 'no-'}enable-exactly-once-delivery)`,
    );
  }
  return warnings;
}

/** Runs `create`; false when it lost a race to someone creating the same resource (ALREADY_EXISTS). */
async function createUnlessExists(what: string, create: () => Promise<unknown>): Promise<boolean> {
  try {
    await create();
    return true;
  } catch (e: unknown) {
    if (grpcStatusOf(e) === GrpcStatus.ALREADY_EXISTS) return false;
    throw setupError(what, e);
  }
}

/** What `get` resolves with, or undefined when Pub/Sub answers NOT_FOUND. */
async function lookUp<T>(what: string, get: (options: CallOptions) => Promise<T>): Promise<T | undefined> {
  try {
    return await get({ timeout: LOOKUP_TIMEOUT_MS });
  } catch (e: unknown) {
    if (grpcStatusOf(e) === GrpcStatus.NOT_FOUND) return undefined;
    throw setupError(what, e);
  }
}

/** `PUBSUB_SETUP.<failure>` (see classifyPubSubError), saying which step failed. */
function setupError(what: string, e: unknown): AppError {
  const { failure, retryable } = classifyPubSubError(e);
  const timedOut = grpcStatusOf(e) === GrpcStatus.DEADLINE_EXCEEDED;
  return new AppError(
    `PUBSUB_SETUP.${failure}`,
    `${what}: ${timedOut ? `no answer from Pub/Sub within ${LOOKUP_TIMEOUT_MS / 1000} s: ` : ''}${firstError(e)}`,
    { retryable, cause: e },
  );
}

/** The client's message without the list of every retry's error that a timeout appends. */
function firstError(e: unknown): string {
  const text = errorMessage(e).split(' : Previous errors')[0] ?? '';
  return text.length > 300 ? `${text.slice(0, 300)}…` : text;
}
