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
      const managed = local('managed_config') as { loader: { auth: Body } };

      expect(push['push_endpoint']).toBe(`${ref('google_cloud_run_v2_service.loader.uri')}/pubsub/push`);
      expect(oidc['service_account_email']).toBe(ref('google_service_account.push.email'));
      expect(oidc['audience']).toBe(ref('var.loader_audience'));
      expect(loader['custom_audiences']).toEqual([ref('var.loader_audience')]);
      // The loader's own check (loader.auth in the rendered config) expects the same token.
      expect(managed.loader.auth).toEqual({
        audience: ref('var.loader_audience'),
        serviceAccountEmail: ref('google_service_account.push.email'),
      });
      expect(variableDefault('loader_audience')).toBe('changefeed-loader');
    });

    it('keeps events of one entity in order, retries with backoff and dead-letters after max attempts', () => {
      const sub = resource(tf, 'google_pubsub_subscription', 'loader_push');
      const retry = block(sub, 'retry_policy');
      const deadLetter = block(sub, 'dead_letter_policy');

      expect(sub['enable_message_ordering']).toBe(true);
      expect(sub['topic']).toBe(ref('google_pubsub_topic.events.id'));
      expect(sub['ack_deadline_seconds']).toBe(ref('var.push_ack_deadline_seconds'));
      expect(variableDefault('push_ack_deadline_seconds')).toBeGreaterThanOrEqual(10);
      expect(retry).toEqual({
        minimum_backoff: ref('var.push_min_backoff'),
        maximum_backoff: ref('var.push_max_backoff'),
      });
      expect([variableDefault('push_min_backoff'), variableDefault('push_max_backoff')]).toEqual(['10s', '600s']);
      expect(deadLetter).toEqual({
        dead_letter_topic: ref('google_pubsub_topic.dead_letters.id'),
        max_delivery_attempts: ref('var.max_delivery_attempts'),
      });
      expect(variableDefault('max_delivery_attempts')).toBe(DEFAULTS.busMaxDeliveryAttempts);
    });

    it('lets the Pub/Sub service agent dead-letter and sign push tokens, and nothing broader', () => {
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
        subscription: ref('google_pubsub_subscription.loader_push.name'),
        role: 'roles/pubsub.subscriber',
        member: agent,
      });
      expect(tokens).toMatchObject({
        service_account_id: ref('google_service_account.push.name'),
        role: 'roles/iam.serviceAccountTokenCreator',
        member: agent,
      });
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
        /^\$\{(google_service_account\.[a-z_]+\.member|local\.pubsub_service_agent|each\.value(\.member)?)\}$/;

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

    it('lets only the push account invoke the loader', () => {
      const runGrants = iamGrants().filter((g) => g.type.startsWith('google_cloud_run_v2_service_iam'));

      expect(runGrants).toHaveLength(1);
      expect(runGrants[0]?.body).toMatchObject({
        name: ref('google_cloud_run_v2_service.loader.name'),
        role: 'roles/run.invoker',
        member: ref('google_service_account.push.member'),
      });
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

    it('gives the loader BigQuery and its config, and no Pub/Sub or Firestore role', () => {
      const loaderGrants = iamGrants().filter((g) =>
        stringsIn(g.body).some((s) => s.includes('google_service_account.loader.member')),
      );
      const roles = loaderGrants.map((g) => String(g.body['role']));

      expect(roles.filter((r) => r.startsWith('roles/pubsub.') || r.startsWith('roles/datastore.'))).toEqual([]);
      expect(roles).toEqual(expect.arrayContaining(['roles/bigquery.dataEditor', 'roles/bigquery.jobUser']));
      // The poller publishes to the events topic only.
      const pollerPublish = resource(tf, 'google_pubsub_topic_iam_member', 'poller_publishes_events');
      expect(pollerPublish).toMatchObject({
        topic: ref('google_pubsub_topic.events.name'),
        role: 'roles/pubsub.publisher',
      });
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
      expect(local('topic_name')).toBe(DEFAULTS.pubsubTopic);
      expect(local('dead_letter_subscription_name')).toBe(DEFAULTS.pubsubDeadLetterSubscription);
      expect(local('firestore_collection')).toBe(DEFAULTS.firestoreCollection);
      expect(local('dataset_id')).toBe(DEFAULTS.bigqueryDataset);
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

    it('renders a config the services accept, pointing at the resources Terraform created', () => {
      const samples: Record<string, unknown> = {
        project_id: 'my-project-123456',
        'google_service_account.push.email': 'changefeed-push@my-project-123456.iam.gserviceaccount.com',
      };
      const resolve = (value: unknown): unknown => {
        if (typeof value === 'string') {
          const m = /^\$\{([^}]+)\}$/.exec(value);
          if (m === null) return value;
          const expr = m[1] ?? '';
          if (expr.startsWith('local.')) return resolve(local(expr.slice('local.'.length)));
          if (expr.startsWith('var.')) {
            const name = expr.slice('var.'.length);
            return samples[name] ?? variableDefault(name);
          }
          if (expr in samples) return samples[expr];
          throw new Error(`no sample value for ${value}`);
        }
        if (Array.isArray(value)) return value.map(resolve);
        if (typeof value === 'object' && value !== null) {
          return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, resolve(v)]));
        }
        return value;
      };
      const managed = resolve(local('managed_config')) as Record<string, unknown>;
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
      };

      const config = parseConfig(stringify({ ...userFile, ...managed }), 'rendered.yaml');

      expect(config.backend).toBe('gcp');
      expect(config.gcp).toMatchObject({
        projectId: 'my-project-123456',
        pubsub: { topic: DEFAULTS.pubsubTopic, deadLetterSubscription: DEFAULTS.pubsubDeadLetterSubscription },
        firestore: { databaseId: '(default)', collection: DEFAULTS.firestoreCollection },
        bigquery: { dataset: DEFAULTS.bigqueryDataset, location: 'US' },
      });
      expect(config.loader).toMatchObject({
        host: '0.0.0.0',
        port: 8080,
        auth: {
          audience: 'changefeed-loader',
          serviceAccountEmail: 'changefeed-push@my-project-123456.iam.gserviceaccount.com',
        },
      });
      expect(config.poller.port).toBe(8080);
      expect(local('container_port')).toBe(8080);
    });

    it('refuses at plan time a config whose credentials have no secret', () => {
      const version = resource(tf, 'google_secret_manager_secret_version', 'config');
      const conditions = blocks(block(version, 'lifecycle'), 'precondition').map((p) => p['condition']);

      expect(version['secret_data']).toBe(ref('local.rendered_config'));
      expect(conditions).toContain(ref('length(local.missing_source_secrets) == 0'));
    });
  });
});
