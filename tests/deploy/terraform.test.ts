import { DEFAULTS, parseConfig } from '@changefeed/shared/config';
import { UNINDEXED_SNAPSHOT_FIELDS } from '@changefeed/shared/adapters/gcp';
import { stringify } from 'yaml';
import {
  block,
  blocks,
  dynamicBlocks,
  loadTerraform,
  ref,
  resource,
  resourcesOf,
  stringsIn,
  type Body,
  type Terraform,
} from './terraform-files';

let tf: Terraform;

beforeAll(async () => {
  tf = await loadTerraform();
});

const IAM_MEMBER_TYPES = [
  'google_project_iam_member',
  'google_service_account_iam_member',
  'google_pubsub_topic_iam_member',
  'google_pubsub_subscription_iam_member',
  'google_bigquery_dataset_iam_member',
  'google_secret_manager_secret_iam_member',
  'google_cloud_run_v2_service_iam_member',
  'google_cloud_run_v2_job_iam_member',
  'google_artifact_registry_repository_iam_member',
  'google_storage_bucket_iam_member',
];

/** Every IAM grant, as `{ address, body }`. */
function iamGrants(): { address: string; type: string; body: Body }[] {
  return [...tf.resources.entries()]
    .filter(([type]) => type.endsWith('_iam_member'))
    .flatMap(([type, byName]) =>
      [...byName.entries()].map(([name, body]) => ({ address: `${type}.${name}`, type, body })),
    );
}

function variableDefault(name: string): unknown {
  const variable = tf.variables.get(name);
  if (variable === undefined) throw new Error(`variable ${name} is not declared`);
  return variable['default'];
}

function local(name: string): unknown {
  if (!(name in tf.locals)) throw new Error(`local.${name} is not declared`);
  return tf.locals[name];
}

/** var.loader_delivery: exactly one of the loader's two subscriptions exists. */
type Delivery = 'push' | 'pull';
const DELIVERIES: readonly Delivery[] = ['push', 'pull'];

/**
 * The delivery modes a resource exists in. A resource of only one mode is counted with exactly
 * `local.loader_<mode> ? 1 : 0` (the locals are checked below); any other count is refused, so
 * that a new conditional resource has to be looked at here.
 */
function existsIn(body: Body): Delivery[] {
  const count = body['count'];
  if (count === undefined) return [...DELIVERIES];
  const mode = DELIVERIES.find((d) => count === ref(`local.loader_${d} ? 1 : 0`));
  if (mode === undefined) throw new Error(`unexpected count ${JSON.stringify(count)}`);
  return [mode];
}

/** Every IAM grant that exists with `delivery`, by address. */
function grantsWith(delivery: Delivery): string[] {
  return iamGrants()
    .filter((g) => existsIn(g.body).includes(delivery))
    .map((g) => g.address)
    .sort();
}

/** Strips whitespace, to compare multi-line expressions. */
function compact(expression: unknown): string {
  return String(expression).replace(/\s+/g, '');
}

describe('terraform/', () => {
  it('pins the google provider to major 6 and documents every variable and output', () => {
    const providers = tf.settings.flatMap((s) => blocks(s, 'required_providers'));
    const google = providers.map((p) => p['google']).find((g) => g !== undefined) as Body | undefined;

    expect(google?.['source']).toBe('hashicorp/google');
    expect(String(google?.['version'])).toMatch(/^~>\s*6\./);
    for (const [name, v] of tf.variables) expect([name, typeof v['description']]).toEqual([name, 'string']);
    for (const [name, o] of tf.outputs) expect([name, typeof o['description']]).toEqual([name, 'string']);
  });

  it('declares every resource, data source, variable and local that an expression names', () => {
    const declared = new Set<string>();
    for (const [type, byName] of tf.resources) for (const name of byName.keys()) declared.add(`${type}.${name}`);
    for (const [type, byName] of tf.data) for (const name of byName.keys()) declared.add(`data.${type}.${name}`);
    const expressions = stringsIn([...tf.resources.values()].map((m) => [...m.values()]))
      .concat(stringsIn([...tf.data.values()].map((m) => [...m.values()])))
      .concat(stringsIn(tf.locals), stringsIn([...tf.outputs.values()]), stringsIn([...tf.variables.values()]))
      .filter((s) => s.includes('${'));

    const missing = new Set<string>();
    for (const e of expressions) {
      for (const m of e.matchAll(/\b(data\.)?((?:google_[a-z0-9_]+|terraform_data)\.[a-z0-9_]+)/g)) {
        const address = `${m[1] ?? ''}${m[2] ?? ''}`;
        if (!declared.has(address)) missing.add(address);
      }
      for (const m of e.matchAll(/\bvar\.([a-z0-9_]+)/g)) if (!tf.variables.has(m[1] ?? '')) missing.add(m[0]);
      for (const m of e.matchAll(/\blocal\.([a-z0-9_]+)/g)) if (!((m[1] ?? '') in tf.locals)) missing.add(m[0]);
    }

    expect([...missing]).toEqual([]);
  });

  describe('push subscription', () => {
    it('signs an OIDC token as the push account, for the custom audience the loader accepts', () => {
      const push = block(resource(tf, 'google_pubsub_subscription', 'loader_push'), 'push_config');
      const oidc = block(push, 'oidc_token');
      const loader = resource(tf, 'google_cloud_run_v2_service', 'loader');
      const byDelivery = local('managed_loader_delivery') as { push: { auth: Body } };

      expect(push['push_endpoint']).toBe(`${ref('google_cloud_run_v2_service.loader.uri')}/pubsub/push`);
      expect(oidc['service_account_email']).toBe(ref('google_service_account.push[0].email'));
      expect(oidc['audience']).toBe(ref('var.loader_audience'));
      expect(loader['custom_audiences']).toEqual([ref('var.loader_audience')]);
      // The loader's own check (loader.auth in the rendered config, with push) expects the same token.
      expect(byDelivery.push.auth).toEqual({
        audience: ref('var.loader_audience'),
        serviceAccountEmail: ref('one(google_service_account.push[*].email)'),
      });
      expect(variableDefault('loader_audience')).toBe('changefeed-loader');
    });

    it.each([
      ['loader_push', 'push_ack_deadline_seconds'],
      ['loader_pull', 'pull_ack_deadline_seconds'],
    ])(
      '%s keeps events of one entity in order, retries with backoff and dead-letters after max attempts',
      (name, ackDeadline) => {
        const sub = resource(tf, 'google_pubsub_subscription', name);
        const retry = block(sub, 'retry_policy');
        const deadLetter = block(sub, 'dead_letter_policy');

        expect(sub['enable_message_ordering']).toBe(true);
        expect(sub['topic']).toBe(ref('google_pubsub_topic.events.id'));
        expect(sub['ack_deadline_seconds']).toBe(ref(`var.${ackDeadline}`));
        expect(variableDefault(ackDeadline)).toBeGreaterThanOrEqual(10);
        // Undelivered events wait the maximum 7 days; the subscription never expires.
        expect(sub['message_retention_duration']).toBe('604800s');
        expect(block(sub, 'expiration_policy')).toEqual({ ttl: '' });
        expect(retry).toEqual({
          minimum_backoff: ref('var.push_min_backoff'),
          maximum_backoff: ref('var.push_max_backoff'),
        });
        expect([variableDefault('push_min_backoff'), variableDefault('push_max_backoff')]).toEqual(['10s', '600s']);
        expect(deadLetter).toEqual({
          dead_letter_topic: ref('google_pubsub_topic.dead_letters.id'),
          max_delivery_attempts: ref('var.max_delivery_attempts'),
        });
        expect(variableDefault('max_delivery_attempts')).toBe(DEFAULTS.bus.maxDeliveryAttempts);
      },
    );

    it('lets the Pub/Sub service agent dead-letter from whichever subscription exists, sign push tokens only with push, and nothing broader', () => {
      const agent = ref('local.pubsub_service_agent');
      const publisher = resource(tf, 'google_pubsub_topic_iam_member', 'pubsub_agent_publishes_dead_letters');
      const subscriber = resource(tf, 'google_pubsub_subscription_iam_member', 'pubsub_agent_acks_dead_letters');
      const tokens = resource(tf, 'google_service_account_iam_member', 'pubsub_agent_signs_as_push');

      expect(local('pubsub_service_agent')).toBe(
        'serviceAccount:service-${data.google_project.this.number}@gcp-sa-pubsub.iam.gserviceaccount.com',
      );
      expect(publisher).toMatchObject({
        topic: ref('google_pubsub_topic.dead_letters.name'),
        role: 'roles/pubsub.publisher',
        member: agent,
      });
      expect(subscriber).toMatchObject({
        subscription: ref('local.loader_subscription_name'),
        role: 'roles/pubsub.subscriber',
        member: agent,
      });
      // One of the two lists is empty: the name of the subscription that exists, in either mode.
      expect(local('loader_subscription_name')).toBe(
        ref(
          'one(concat(google_pubsub_subscription.loader_push[*].name, google_pubsub_subscription.loader_pull[*].name))',
        ),
      );
      expect(existsIn(subscriber)).toEqual(['push', 'pull']);
      expect(existsIn(publisher)).toEqual(['push', 'pull']);
      expect(tokens).toMatchObject({
        service_account_id: ref('google_service_account.push[0].name'),
        role: 'roles/iam.serviceAccountTokenCreator',
        member: agent,
      });
      expect(existsIn(tokens)).toEqual(['push']);
      const agentGrants = iamGrants().filter((g) => g.body['member'] === agent);
      expect(agentGrants.map((g) => g.address).sort()).toEqual(
        [
          'google_pubsub_subscription_iam_member.pubsub_agent_acks_dead_letters',
          'google_pubsub_topic_iam_member.pubsub_agent_publishes_dead_letters',
          'google_service_account_iam_member.pubsub_agent_signs_as_push',
        ].sort(),
      );
    });

    it('has a pull subscription on the dead-letter topic to replay from', () => {
      const pull = resource(tf, 'google_pubsub_subscription', 'dead_letters');

      expect(pull['topic']).toBe(ref('google_pubsub_topic.dead_letters.id'));
      expect(pull['push_config']).toBeUndefined();
      expect(pull['name']).toBe(ref('local.dead_letter_subscription_name'));
    });
  });

  describe('delivery mode (var.loader_delivery)', () => {
    it('accepts only push (the default) or pull, with a message that says what each means', () => {
      const variable = tf.variables.get('loader_delivery');
      const [validation] = blocks(variable ?? {}, 'validation');

      expect(variable?.['type']).toBe(ref('string'));
      expect(variableDefault('loader_delivery')).toBe('push');
      expect(validation?.['condition']).toBe(ref('contains(["push", "pull"], var.loader_delivery)'));
      expect(String(validation?.['error_message'])).toMatch(/^loader_delivery must be "push" .* or "pull" /);
      expect(local('loader_push')).toBe(ref('var.loader_delivery == "push"'));
      expect(local('loader_pull')).toBe(ref('var.loader_delivery == "pull"'));
    });

    it('creates exactly one loader subscription on the events topic: push or pull', () => {
      const loaderSubscriptions = resourcesOf(tf, 'google_pubsub_subscription').filter(
        ([, body]) => body['topic'] === ref('google_pubsub_topic.events.id'),
      );

      expect(loaderSubscriptions.map(([name]) => name).sort()).toEqual(['loader_pull', 'loader_push']);
      for (const delivery of DELIVERIES) {
        const existing = loaderSubscriptions.filter(([, body]) => existsIn(body).includes(delivery));
        expect([delivery, existing.map(([name]) => name)]).toEqual([delivery, [`loader_${delivery}`]]);
      }
    });

    it('pulls from a subscription with exactly-once delivery from its variable, and no push endpoint', () => {
      const pull = resource(tf, 'google_pubsub_subscription', 'loader_pull');

      expect(pull['name']).toBe(ref('local.pull_subscription_name'));
      expect(local('pull_subscription_name')).toBe(DEFAULTS.loader.pull.subscription);
      expect(pull['push_config']).toBeUndefined();
      expect(pull['enable_exactly_once_delivery']).toBe(ref('var.pull_exactly_once_delivery'));
      expect(tf.variables.get('pull_exactly_once_delivery')?.['type']).toBe(ref('bool'));
      expect(variableDefault('pull_exactly_once_delivery')).toBe(false);
      // The same retry and dead-letter policy as push (the it.each above checks their values).
      const push = resource(tf, 'google_pubsub_subscription', 'loader_push');
      expect(block(pull, 'retry_policy')).toEqual(block(push, 'retry_policy'));
      expect(block(pull, 'dead_letter_policy')).toEqual(block(push, 'dead_letter_policy'));
      expect(pull['depends_on']).toContain(ref('google_pubsub_topic_iam_member.pubsub_agent_publishes_dead_letters'));
    });

    it('refers to a resource of one mode only from that mode, or through [*] (never a missing [0])', () => {
      const counted = new Map<string, Delivery[]>();
      for (const [type, byName] of tf.resources) {
        for (const [name, body] of byName) {
          if (body['count'] !== undefined) counted.set(`${type}.${name}`, existsIn(body));
        }
      }
      const problems: string[] = [];
      const check = (where: string, modes: readonly Delivery[], value: unknown): void => {
        for (const s of stringsIn(value)) {
          for (const m of s.matchAll(/\b((?:google_[a-z0-9_]+|terraform_data)\.[a-z0-9_]+)(\[0\]|\[\*\])?/g)) {
            const target = counted.get(m[1] ?? '');
            if (target === undefined || m[2] === '[*]') continue;
            if (m[2] === undefined) problems.push(`${where}: ${m[0]} without an index`);
            else if (!modes.every((d) => target.includes(d)))
              problems.push(`${where}: ${m[0]} exists only with ${target.join()}`);
          }
        }
      };
      for (const [type, byName] of tf.resources) {
        for (const [name, body] of byName) {
          // depends_on names whole resources, counted or not.
          const { depends_on: _dependsOn, ...rest } = body;
          check(`${type}.${name}`, existsIn(body), rest);
        }
      }
      // Locals and outputs are evaluated in both modes.
      check('locals', DELIVERIES, tf.locals);
      for (const [name, body] of tf.outputs) check(`output.${name}`, DELIVERIES, body);

      expect(problems).toEqual([]);
    });

    it('has no dependency cycle, counting references through locals and depends_on', () => {
      // Terraform plans fail on a cycle whatever the counts are; terraform validate does not see one.
      const declared = new Set<string>();
      for (const [type, byName] of tf.resources) for (const name of byName.keys()) declared.add(`${type}.${name}`);
      for (const [type, byName] of tf.data) for (const name of byName.keys()) declared.add(`data.${type}.${name}`);
      const localRefs = (value: unknown): string[] =>
        stringsIn(value).flatMap((s) => [...s.matchAll(/\blocal\.([a-z0-9_]+)/g)].map((m) => m[1] ?? ''));
      const directRefs = (value: unknown): string[] =>
        stringsIn(value).flatMap((s) =>
          [...s.matchAll(/\b(data\.)?((?:google_[a-z0-9_]+|terraform_data)\.[a-z0-9_]+)/g)]
            .map((m) => `${m[1] ?? ''}${m[2] ?? ''}`)
            .filter((a) => declared.has(a)),
        );
      // What each local reaches, transitively through other locals.
      const viaLocal = new Map<string, Set<string>>();
      const reach = (name: string, seen: Set<string> = new Set()): Set<string> => {
        const known = viaLocal.get(name);
        if (known !== undefined) return known;
        if (seen.has(name)) throw new Error(`local.${name} refers to itself`);
        seen.add(name);
        const out = new Set(directRefs(tf.locals[name]));
        for (const l of localRefs(tf.locals[name])) for (const a of reach(l, seen)) out.add(a);
        viaLocal.set(name, out);
        return out;
      };
      const edges = new Map<string, Set<string>>();
      const bodiesOf = [
        ...[...tf.resources].flatMap(([type, byName]) => [...byName].map(([n, b]) => [`${type}.${n}`, b] as const)),
        ...[...tf.data].flatMap(([type, byName]) => [...byName].map(([n, b]) => [`data.${type}.${n}`, b] as const)),
      ];
      for (const [address, body] of bodiesOf) {
        const out = new Set(directRefs(body).filter((a) => a !== address));
        for (const l of localRefs(body)) for (const a of reach(l)) out.add(a);
        edges.set(address, out);
      }
      const cycles: string[] = [];
      const state = new Map<string, 'visiting' | 'done'>();
      const visit = (node: string, path: string[]): void => {
        if (state.get(node) === 'done') return;
        if (state.get(node) === 'visiting') {
          cycles.push([...path.slice(path.indexOf(node)), node].join(' -> '));
          return;
        }
        state.set(node, 'visiting');
        for (const next of edges.get(node) ?? []) visit(next, [...path, node]);
        state.set(node, 'done');
      };
      for (const node of edges.keys()) visit(node, []);

      expect(cycles).toEqual([]);
      // The chain the pull mode adds: the loader waits for its grant, which waits for the subscription.
      expect(edges.get('google_cloud_run_v2_service.loader')).toContain(
        'google_pubsub_subscription_iam_member.loader_pulls_events',
      );
      expect(edges.get('google_pubsub_subscription.loader_push')).toContain('google_cloud_run_v2_service.loader');
    });

    it('grants per mode exactly these Pub/Sub and invoker roles, and with pull nothing may invoke the loader', () => {
      const pubsubOrInvoker = (delivery: Delivery): string[] =>
        grantsWith(delivery).filter(
          (a) =>
            a.startsWith('google_pubsub_') ||
            a.startsWith('google_cloud_run_v2_service_iam') ||
            a.startsWith('google_service_account_iam_member.pubsub_agent'),
        );
      const always = [
        'google_pubsub_subscription_iam_member.operators_pull_dead_letters',
        'google_pubsub_subscription_iam_member.pubsub_agent_acks_dead_letters',
        'google_pubsub_topic_iam_member.operators_republish_events',
        'google_pubsub_topic_iam_member.poller_publishes_events',
        'google_pubsub_topic_iam_member.pubsub_agent_publishes_dead_letters',
      ];

      expect(pubsubOrInvoker('push')).toEqual(
        [
          ...always,
          'google_cloud_run_v2_service_iam_member.push_invokes_loader',
          'google_service_account_iam_member.pubsub_agent_signs_as_push',
        ].sort(),
      );
      expect(pubsubOrInvoker('pull')).toEqual(
        [...always, 'google_pubsub_subscription_iam_member.loader_pulls_events'].sort(),
      );
      // No grant is made at the project level for Pub/Sub in either mode.
      const projectRoles = resourcesOf(tf, 'google_project_iam_member').map(([, b]) => String(b['role']));
      expect(projectRoles.filter((r) => r.startsWith('roles/pubsub.'))).toEqual([]);
    });

    it('keeps at least one loader instance running with CPU always allocated when pulling', () => {
      const loader = resource(tf, 'google_cloud_run_v2_service', 'loader');
      const template = block(loader, 'template');
      const resources = block(block(template, 'containers'), 'resources');
      const minInstances = tf.variables.get('loader_pull_min_instances');
      const [validation] = blocks(minInstances ?? {}, 'validation');
      const preconditions = blocks(block(loader, 'lifecycle'), 'precondition').map((p) => p['condition']);

      // Push: 0 (scales to zero) and CPU only in requests, as before; pull: the variable, CPU always.
      expect(block(template, 'scaling')).toEqual({
        min_instance_count: ref('local.loader_pull ? var.loader_pull_min_instances : 0'),
        max_instance_count: ref('var.loader_max_instances'),
      });
      expect(resources['cpu_idle']).toBe(ref('local.loader_push'));
      expect(variableDefault('loader_pull_min_instances')).toBe(1);
      expect(String(validation?.['condition'])).toContain('var.loader_pull_min_instances >= 1');
      expect(preconditions).toContain(
        ref('local.loader_push || var.loader_pull_min_instances <= var.loader_max_instances'),
      );
      expect(loader['ingress']).toBe('INGRESS_TRAFFIC_INTERNAL_ONLY');
      // The consumer starts with the revision: the subscription and the right to read it come first.
      expect(loader['depends_on']).toContain(ref('google_pubsub_subscription_iam_member.loader_pulls_events'));
    });

    it('outputs the subscription of each mode, null in the other', () => {
      expect(tf.outputs.get('push_subscription')?.['value']).toBe(
        ref('one(google_pubsub_subscription.loader_push[*].name)'),
      );
      expect(tf.outputs.get('pull_subscription')?.['value']).toBe(
        ref('one(google_pubsub_subscription.loader_pull[*].name)'),
      );
      expect(tf.outputs.get('loader_delivery')?.['value']).toBe(ref('var.loader_delivery'));
    });
  });

  describe('access', () => {
    it('grants nothing to allUsers or allAuthenticatedUsers, anywhere', () => {
      for (const [file, text] of tf.texts)
        expect([file, /allUsers|allAuthenticatedUsers/i.test(text)]).toEqual([file, false]);
      const members = iamGrants().map((g) => String(g.body['member']));
      expect(members.filter((m) => /all(authenticated)?users/i.test(m))).toEqual([]);
    });

    it('only adds members (never replaces a policy), and only to known identities', () => {
      const authoritative = [...tf.resources.keys()].filter((t) => /_iam_(binding|policy)$/.test(t));
      const known =
        /^\$\{(google_service_account\.[a-z_]+(\[0\])?\.member|local\.pubsub_service_agent|each\.value(\.member)?)\}$/;

      expect(authoritative).toEqual([]);
      for (const g of iamGrants()) {
        expect([g.address, known.test(String(g.body['member']))]).toEqual([g.address, true]);
        expect(IAM_MEMBER_TYPES).toContain(g.type);
      }
      // `each.value` members are the workload accounts or var.dlq_operators, which must be principals.
      const operators = tf.variables.get('dlq_operators');
      expect(stringsIn(operators?.['validation'])).toEqual(
        expect.arrayContaining([expect.stringContaining('(user|group|serviceAccount|domain|principal|principalSet):')]),
      );
    });

    it('gives each workload its own service account and runs it as that account', () => {
      const accounts = resourcesOf(tf, 'google_service_account');
      const ids = accounts.map(([, body]) => body['account_id']);
      const runsAs = {
        poller: block(resource(tf, 'google_cloud_run_v2_service', 'poller'), 'template')['service_account'],
        loader: block(resource(tf, 'google_cloud_run_v2_service', 'loader'), 'template')['service_account'],
        batch: block(block(resource(tf, 'google_cloud_run_v2_job', 'batch'), 'template'), 'template')[
          'service_account'
        ],
      };

      expect(accounts.map(([name]) => name)).toEqual(
        expect.arrayContaining(['poller', 'loader', 'batch', 'push', 'scheduler']),
      );
      expect(new Set(ids).size).toBe(ids.length);
      expect(runsAs).toEqual({
        poller: ref('google_service_account.poller.email'),
        loader: ref('google_service_account.loader.email'),
        batch: ref('google_service_account.batch.email'),
      });
    });

    it('lets only the push account invoke the loader, and nobody with pull', () => {
      const runGrants = iamGrants().filter((g) => g.type.startsWith('google_cloud_run_v2_service_iam'));

      expect(runGrants).toHaveLength(1);
      expect(runGrants[0]?.body).toMatchObject({
        name: ref('google_cloud_run_v2_service.loader.name'),
        role: 'roles/run.invoker',
        member: ref('google_service_account.push[0].member'),
      });
      // The push account, its invoker grant and the agent's token grant exist only with push.
      expect(existsIn(runGrants[0]?.body ?? {})).toEqual(['push']);
      expect(existsIn(resource(tf, 'google_service_account', 'push'))).toEqual(['push']);
      expect(resource(tf, 'google_cloud_run_v2_service', 'loader')['ingress']).not.toBe('INGRESS_TRAFFIC_ALL');
    });

    it('lets only the scheduler account run the batch job, which it calls with its OAuth token', () => {
      const jobGrants = iamGrants().filter((g) => g.type.startsWith('google_cloud_run_v2_job_iam'));
      const target = block(resource(tf, 'google_cloud_scheduler_job', 'batch'), 'http_target');

      expect(jobGrants).toHaveLength(1);
      expect(jobGrants[0]?.body).toMatchObject({
        name: ref('google_cloud_run_v2_job.batch.name'),
        role: 'roles/run.invoker',
        member: ref('google_service_account.scheduler.member'),
      });
      expect(target['http_method']).toBe('POST');
      expect(target['uri']).toMatch(/\/jobs\/\$\{google_cloud_run_v2_job\.batch\.name\}:run$/);
      expect(block(target, 'oauth_token')).toMatchObject({
        service_account_email: ref('google_service_account.scheduler.email'),
      });
      expect(target['oidc_token']).toBeUndefined();
    });

    it('keeps project-wide roles to the few that cannot be narrowed, and never a basic role', () => {
      const projectGrants = resourcesOf(tf, 'google_project_iam_member').map(([, b]) => b);
      const allowed = [
        'roles/datastore.user',
        'roles/bigquery.jobUser',
        'roles/logging.logWriter',
        'roles/run.developer',
      ];

      for (const g of projectGrants) expect(allowed).toContain(g['role']);
      for (const g of projectGrants.filter((b) => b['role'] === 'roles/datastore.user')) {
        // Firestore has no per-database IAM; the condition narrows the grant to our database.
        expect(block(g, 'condition')['expression']).toBe(ref('local.firestore_condition'));
      }
      expect(iamGrants().filter((g) => /^roles\/(owner|editor|viewer)$/.test(String(g.body['role'])))).toEqual([]);
    });

    it('gives the loader BigQuery and its config, no Firestore role, and Pub/Sub only to pull its own subscription', () => {
      const loaderGrants = iamGrants().filter((g) =>
        stringsIn(g.body).some((s) => s.includes('google_service_account.loader.member')),
      );
      const roles = loaderGrants.map((g) => String(g.body['role']));
      const pubsubGrants = loaderGrants.filter(
        (g) => String(g.body['role']).startsWith('roles/pubsub.') || g.type.startsWith('google_pubsub_'),
      );

      expect(roles.filter((r) => r.startsWith('roles/datastore.'))).toEqual([]);
      expect(roles).toEqual(expect.arrayContaining(['roles/bigquery.dataEditor', 'roles/bigquery.jobUser']));
      // Its only Pub/Sub grant: subscriber on the pull subscription itself (never a topic or the
      // project), and only with pull. With push Pub/Sub calls the loader, which needs no role.
      expect(pubsubGrants.map((g) => g.address)).toEqual(['google_pubsub_subscription_iam_member.loader_pulls_events']);
      expect(pubsubGrants[0]?.body).toMatchObject({
        subscription: ref('google_pubsub_subscription.loader_pull[0].name'),
        role: 'roles/pubsub.subscriber',
        member: ref('google_service_account.loader.member'),
      });
      expect(existsIn(pubsubGrants[0]?.body ?? {})).toEqual(['pull']);
      // The poller publishes to the events topic only.
      const pollerPublish = resource(tf, 'google_pubsub_topic_iam_member', 'poller_publishes_events');
      expect(pollerPublish).toMatchObject({
        topic: ref('google_pubsub_topic.events.name'),
        role: 'roles/pubsub.publisher',
      });
    });
  });

  describe('payload bucket (claim check)', () => {
    it('is private, uniformly controlled, and deletes payloads after var.payload_retention_days', () => {
      const bucket = resource(tf, 'google_storage_bucket', 'payloads');
      const rule = block(bucket, 'lifecycle_rule');

      expect(bucket).toMatchObject({
        name: ref('local.payload_bucket_name'),
        uniform_bucket_level_access: true,
        public_access_prevention: 'enforced',
      });
      expect(local('payload_bucket_name')).toBe(ref('var.project_id') + '-changefeed-payloads');
      expect(block(rule, 'condition')).toEqual({ age: ref('var.payload_retention_days') });
      expect(block(rule, 'action')).toEqual({ type: 'Delete' });
    });

    it('keeps payloads longer than Pub/Sub keeps the messages that refer to them', () => {
      const retentionDays = (body: Body): number =>
        Number(/^(\d+)s$/.exec(String(body['message_retention_duration']))?.[1]) / 86_400;
      const subscriptions = resourcesOf(tf, 'google_pubsub_subscription').map(([, body]) => retentionDays(body));
      const retention = Number(variableDefault('payload_retention_days'));

      expect(retention).toBe(14);
      expect(subscriptions.length).toBeGreaterThan(0);
      for (const days of subscriptions) expect(retention).toBeGreaterThan(days);
      expect(stringsIn(tf.variables.get('payload_retention_days')?.['validation'])).toEqual(
        expect.arrayContaining([expect.stringContaining('var.payload_retention_days > 7')]),
      );
    });

    it('lets the poller only create objects and the loader only read them, and nobody else anything', () => {
      const grants = iamGrants().filter((g) => g.body['bucket'] === ref('google_storage_bucket.payloads.name'));

      expect(grants.map((g) => [g.address, g.body['role'], g.body['member']]).sort()).toEqual([
        [
          'google_storage_bucket_iam_member.loader_reads_payloads',
          'roles/storage.objectViewer',
          ref('google_service_account.loader.member'),
        ],
        [
          'google_storage_bucket_iam_member.poller_writes_payloads',
          'roles/storage.objectCreator',
          ref('google_service_account.poller.member'),
        ],
      ]);
    });
  });

  describe('workloads', () => {
    it('runs exactly one always-on poller instance, internal only, with no invoker at all', () => {
      const poller = resource(tf, 'google_cloud_run_v2_service', 'poller');
      const template = block(poller, 'template');
      const resources = block(block(template, 'containers'), 'resources');
      const grantsOnPoller = iamGrants().filter((g) =>
        stringsIn(g.body).some((s) => s.includes('google_cloud_run_v2_service.poller')),
      );

      expect(block(template, 'scaling')).toMatchObject({ min_instance_count: 1, max_instance_count: 1 });
      expect(resources['cpu_idle']).toBe(false);
      expect(poller['ingress']).toBe('INGRESS_TRAFFIC_INTERNAL_ONLY');
      expect(grantsOnPoller).toEqual([]);
    });

    it('mounts the pinned config version at CHANGEFEED_CONFIG in every workload', () => {
      const containers = {
        poller: block(block(resource(tf, 'google_cloud_run_v2_service', 'poller'), 'template'), 'containers'),
        loader: block(block(resource(tf, 'google_cloud_run_v2_service', 'loader'), 'template'), 'containers'),
        batch: block(
          block(block(resource(tf, 'google_cloud_run_v2_job', 'batch'), 'template'), 'template'),
          'containers',
        ),
      };
      const templates = [
        block(resource(tf, 'google_cloud_run_v2_service', 'poller'), 'template'),
        block(resource(tf, 'google_cloud_run_v2_service', 'loader'), 'template'),
        block(block(resource(tf, 'google_cloud_run_v2_job', 'batch'), 'template'), 'template'),
      ];

      expect(local('config_path')).toBe('${local.config_mount_path}/${local.config_file_name}');
      expect(local('common_env')).toMatchObject({
        CHANGEFEED_CONFIG: ref('local.config_path'),
        GOOGLE_CLOUD_PROJECT: ref('var.project_id'),
        LOG_LEVEL: ref('var.log_level'),
      });
      for (const container of Object.values(containers)) {
        const dynamicEnv = dynamicBlocks(container, 'env');
        expect(dynamicEnv.map((d) => d['for_each'])).toContain(ref('local.common_env'));
        expect(block(container, 'volume_mounts')).toEqual({
          name: 'config',
          mount_path: ref('local.config_mount_path'),
        });
      }
      for (const template of templates) {
        const secret = block(block(template, 'volumes'), 'secret');
        expect(secret['secret']).toBe(ref('google_secret_manager_secret.config.secret_id'));
        expect(block(secret, 'items')).toEqual({
          version: ref('google_secret_manager_secret_version.config.version'),
          path: ref('local.config_file_name'),
        });
      }
    });

    it('hands source credentials to the poller and the batch job only', () => {
      const secretEnvs = (container: Body): unknown[] =>
        dynamicBlocks(container, 'env')
          .map((d) => d['for_each'])
          .filter((f) => f !== ref('local.common_env'));

      expect(
        secretEnvs(block(block(resource(tf, 'google_cloud_run_v2_service', 'poller'), 'template'), 'containers')),
      ).toEqual([ref('local.poller_secrets')]);
      expect(
        secretEnvs(
          block(block(block(resource(tf, 'google_cloud_run_v2_job', 'batch'), 'template'), 'template'), 'containers'),
        ),
      ).toEqual([ref('local.batch_secrets')]);
      expect(
        secretEnvs(block(block(resource(tf, 'google_cloud_run_v2_service', 'loader'), 'template'), 'containers')),
      ).toEqual([]);
    });

    it('leaves the image to Cloud Build after creation', () => {
      const ignored = (body: Body): unknown => block(body, 'lifecycle')['ignore_changes'];

      expect(ignored(resource(tf, 'google_cloud_run_v2_service', 'poller'))).toContain(
        ref('template[0].containers[0].image'),
      );
      expect(ignored(resource(tf, 'google_cloud_run_v2_service', 'loader'))).toContain(
        ref('template[0].containers[0].image'),
      );
      expect(ignored(resource(tf, 'google_cloud_run_v2_job', 'batch'))).toContain(
        ref('template[0].template[0].containers[0].image'),
      );
    });
  });

  describe('config', () => {
    it('names Pub/Sub, Firestore and BigQuery resources as the config defaults do', () => {
      expect(local('topic_name')).toBe(DEFAULTS.gcp.pubsub.topic);
      expect(local('dead_letter_subscription_name')).toBe(DEFAULTS.gcp.pubsub.deadLetterSubscription);
      expect(local('firestore_collection')).toBe(DEFAULTS.gcp.firestore.collection);
      expect(local('dataset_id')).toBe(DEFAULTS.gcp.bigquery.dataset);
      expect(variableDefault('firestore_database_id')).toBe('(default)');
    });

    it('exempts every map the snapshot index keys by entity or bucket id from Firestore indexing', () => {
      const fields = local('firestore_unindexed_fields') as Record<string, { collection: string; field: string }>;
      const exempt = Object.values(fields).map((f) => `${f.collection}.${f.field}`);
      const { bucketCollectionGroup, bucketFields, metaField } = UNINDEXED_SNAPSHOT_FIELDS;
      expect(exempt.sort()).toEqual(
        [
          ...bucketFields.map((f) => `${bucketCollectionGroup}.${f}`),
          `${ref('local.firestore_collection')}.${metaField}`,
        ].sort(),
      );
      const field = resource(tf, 'google_firestore_field', 'unindexed');
      expect(field['for_each']).toBe(ref('local.firestore_unindexed_fields'));
      expect(field['database']).toBe(ref('google_firestore_database.changefeed.name'));
      // An empty index_config disables every single-field index on the field; any index listed
      // inside it would re-enable that one.
      expect(blocks(field, 'index_config')).toEqual([{}]);
    });

    /**
     * The config Terraform renders with `delivery`, evaluated from the parsed HCL: the references
     * it holds resolved to sample values, and the `rendered_config` merge (checked below) redone.
     */
    function renderConfig(delivery: Delivery, userFile: Record<string, unknown>): Record<string, unknown> {
      const samples: Record<string, unknown> = {
        project_id: 'my-project-123456',
        loader_delivery: delivery,
        pull_exactly_once_delivery: true,
        // The push account and the pull subscription exist only in their mode (one() of none is null).
        'one(google_service_account.push[*].email)':
          delivery === 'push' ? 'changefeed-push@my-project-123456.iam.gserviceaccount.com' : null,
        'one(google_pubsub_subscription.loader_pull[*].name)':
          delivery === 'pull' ? local('pull_subscription_name') : null,
        'google_storage_bucket.payloads.name': 'my-project-123456-changefeed-payloads',
      };
      function resolve(value: unknown): unknown {
        if (typeof value === 'string') {
          const m = /^\$\{(.+)\}$/s.exec(value);
          if (m === null) return value;
          const expr = m[1] ?? '';
          // The file's loader.pull tunables, under what Terraform manages.
          const pullMerge = /^merge\(try\(local\.user_config\.loader\.pull, \{\}\), local\.([a-z_]+)\)$/.exec(expr);
          if (pullMerge !== null) {
            const loader = (userFile['loader'] ?? {}) as Record<string, unknown>;
            return { ...(loader['pull'] ?? {}), ...(resolve(local(pullMerge[1] ?? '')) as object) };
          }
          if (expr.startsWith('local.')) return resolve(local(expr.slice('local.'.length)));
          if (expr.startsWith('var.')) {
            const name = expr.slice('var.'.length);
            return name in samples ? samples[name] : variableDefault(name);
          }
          if (expr in samples) return samples[expr];
          throw new Error(`no sample value for ${value}`);
        }
        if (Array.isArray(value)) return value.map(resolve);
        if (typeof value === 'object' && value !== null) {
          return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, resolve(v)]));
        }
        return value;
      }
      const managed = resolve(local('managed_config')) as Record<string, Record<string, unknown>>;
      const byDelivery = resolve(local('managed_loader_delivery')) as Record<Delivery, Record<string, unknown>>;
      const userLoader = (userFile['loader'] ?? {}) as Record<string, unknown>;
      return {
        ...userFile,
        ...managed,
        poller: { ...(userFile['poller'] ?? {}), ...managed['poller'] },
        loader: { ...userLoader, ...managed['loader'], ...byDelivery[delivery] },
      };
    }

    const userFile = {
      sources: [
        {
          name: 'carts',
          mode: 'stream',
          request: { url: 'https://api.example.com/carts' },
          idField: 'id',
          table: 'carts',
        },
      ],
      // Tunables of the file survive next to what Terraform manages.
      loader: { groupCommitMaxRows: 250, pull: { batchMaxMessages: 1000, subscription: 'not-this-one' } },
    };

    it('merges the file, the managed keys and the keys of the chosen delivery mode, in that order', () => {
      expect(compact(local('rendered_config'))).toContain(
        compact(`loader = merge(
          try(local.user_config.loader, {}),
          local.managed_config.loader,
          local.managed_loader_delivery[var.loader_delivery],
        )`),
      );
      expect(Object.keys(local('managed_loader_delivery') as object).sort()).toEqual([...DELIVERIES].sort());
      expect((local('managed_config') as { loader: Body }).loader['delivery']).toBe(ref('var.loader_delivery'));
    });

    it('renders a push config the services accept, pointing at the resources Terraform created', () => {
      const config = parseConfig(stringify(renderConfig('push', userFile)), 'rendered.yaml');

      expect(config.backend).toBe('gcp');
      expect(config.gcp).toMatchObject({
        projectId: 'my-project-123456',
        pubsub: {
          topic: DEFAULTS.gcp.pubsub.topic,
          deadLetterSubscription: DEFAULTS.gcp.pubsub.deadLetterSubscription,
        },
        firestore: { databaseId: '(default)', collection: DEFAULTS.gcp.firestore.collection },
        bigquery: { dataset: DEFAULTS.gcp.bigquery.dataset, location: 'US' },
        storage: {
          payloadBucket: 'my-project-123456-changefeed-payloads',
          payloadPrefix: DEFAULTS.gcp.storage.payloadPrefix,
        },
      });
      expect(config.loader).toMatchObject({
        host: '0.0.0.0',
        port: 8080,
        delivery: 'push',
        groupCommitMaxRows: 250,
        auth: {
          audience: 'changefeed-loader',
          serviceAccountEmail: 'changefeed-push@my-project-123456.iam.gserviceaccount.com',
        },
      });
      expect(config.poller.port).toBe(8080);
      expect(local('container_port')).toBe(8080);
      expect(variableDefault('loader_delivery')).toBe('push');
    });

    it('renders a pull config with the pull subscription and exactly-once, and no push token check', () => {
      const rendered = renderConfig('pull', userFile);
      const loader = rendered['loader'] as Record<string, unknown>;

      // What Terraform writes, whatever the schema does with it.
      expect(loader['delivery']).toBe('pull');
      expect(loader['auth']).toBeUndefined();
      expect(loader['pull']).toEqual({
        batchMaxMessages: 1000,
        subscription: DEFAULTS.loader.pull.subscription,
        exactlyOnce: true,
      });
      expect(local('managed_pull')).toEqual({
        subscription: ref('one(google_pubsub_subscription.loader_pull[*].name)'),
        exactlyOnce: ref('var.pull_exactly_once_delivery'),
      });

      // ...and the loader accepts it (loader.pull.exactlyOnce must be a key of the schema).
      const config = parseConfig(stringify(rendered), 'rendered.yaml');
      expect(config.loader).toMatchObject({
        host: '0.0.0.0',
        port: 8080,
        delivery: 'pull',
        groupCommitMaxRows: 250,
        pull: { subscription: DEFAULTS.loader.pull.subscription, batchMaxMessages: 1000, exactlyOnce: true },
      });
      expect(config.loader.auth).toBeUndefined();
    });

    it('refuses at plan time a config whose credentials have no secret', () => {
      const version = resource(tf, 'google_secret_manager_secret_version', 'config');
      const conditions = blocks(block(version, 'lifecycle'), 'precondition').map((p) => p['condition']);

      expect(version['secret_data']).toBe(ref('local.rendered_config'));
      expect(conditions).toContain(ref('length(local.missing_source_secrets) == 0'));
    });
  });
});
