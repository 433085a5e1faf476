import { PubSub } from '@google-cloud/pubsub';
import type { Config } from '../../config';
import { ensureDataset } from './bigquery-dataset-setup';
import { createBigQueryClients, type BigQuerySdk } from './bigquery-clients';
import { pubSubClientOptions } from './emulator-clients';
import { bigqueryConfigWithEmulator } from './gcp-runtime';
import { pubSubResourceName } from './pubsub-names';
import { ensurePubSubResources, missingPubSubResources, type PubSubResourcePlan } from './pubsub-setup';
import type { ResourceReport } from './resource-report';

type Environment = Readonly<Record<string, string | undefined>>;

/**
 * A Pub/Sub client on the emulator PUBSUB_EMULATOR_HOST in `env` names, else on Google Cloud:
 * pointed explicitly, so that the environment the caller was handed decides, not the process's.
 */
function pubSubClient(projectId: string, env: Environment): PubSub {
  return new PubSub(pubSubClientOptions(projectId, env['PUBSUB_EMULATOR_HOST']));
}

/**
 * `changefeed gcp setup`: the Pub/Sub resources of `plan` (see ensurePubSubResources), then the
 * BigQuery dataset, on the emulators when the standard variables in `env` name them. Firestore
 * needs nothing created: collections appear with their first document.
 */
export async function setUpGcpResources(
  config: Config,
  projectId: string,
  plan: PubSubResourcePlan,
  env: Environment,
  options: { readonly bigquerySdk?: BigQuerySdk } = {},
): Promise<ResourceReport[]> {
  const pubsub = pubSubClient(projectId, env);
  const bq = bigqueryConfigWithEmulator(config.gcp.bigquery, env);
  const { bigquery, writer } = createBigQueryClients(bq, projectId, options.bigquerySdk);
  try {
    const reports = await ensurePubSubResources(pubsub, plan);
    const emulated = (env['PUBSUB_EMULATOR_HOST'] ?? '') !== '';
    const withAgentNote = reports.map((r) =>
      r.role === 'loader pull subscription' && !emulated ? { ...r, notes: [...r.notes, serviceAgentNote(plan)] } : r,
    );
    withAgentNote.push(await ensureDataset(bigquery, { projectId, dataset: bq.dataset, location: bq.location }));
    return withAgentNote;
  } finally {
    writer.close();
    await pubsub.close();
  }
}

/**
 * What Terraform grants and setup does not (it needs the project number and the right to set IAM
 * policies): without these roles Pub/Sub cannot dead-letter, and keeps redelivering instead.
 * https://cloud.google.com/pubsub/docs/handling-failures#grant_forwarding_permissions
 */
function serviceAgentNote(plan: PubSubResourcePlan): string {
  const agent = 'serviceAccount:service-PROJECT_NUMBER@gcp-sa-pubsub.iam.gserviceaccount.com';
  return (
    'dead-lettering needs the Pub/Sub service agent to hold roles/pubsub.publisher on the dead-letter topic and ' +
    'roles/pubsub.subscriber on this subscription (Terraform grants both; setup does not): ' +
    `gcloud pubsub topics add-iam-policy-binding ${plan.deadLetterTopic} --member=${agent} --role=roles/pubsub.publisher; ` +
    `gcloud pubsub subscriptions add-iam-policy-binding ${plan.loaderSubscription?.name ?? ''} --member=${agent} --role=roles/pubsub.subscriber`
  );
}

/**
 * The full names of the events topic and the loader's pull subscription that do not exist, for
 * `changefeed run` to say "run changefeed gcp setup" instead of a pull stream failing later.
 * Throws ValidationError for a name Pub/Sub would refuse, `setting` naming where it came from.
 */
export async function findMissingPullResources(
  config: Config,
  projectId: string,
  env: Environment,
  setting: (key: string) => string,
): Promise<string[]> {
  const topic = pubSubResourceName('topics', config.gcp.pubsub.topic, projectId, setting('gcp.pubsub.topic'));
  const subscription = pubSubResourceName(
    'subscriptions',
    config.loader.pull.subscription,
    projectId,
    setting('loader.pull.subscription'),
  );
  const pubsub = pubSubClient(projectId, env);
  try {
    return await missingPubSubResources(pubsub, { topics: [topic], subscriptions: [subscription] });
  } finally {
    await pubsub.close();
  }
}
