# One identity per workload, plus one for Pub/Sub push (only with loader_delivery = "push"), one
# for Cloud Scheduler and one for Cloud Build deploys. Each gets only the roles below, on the
# narrowest resource that works.
# Nothing is granted to the public: every member below is one of these accounts, Google's Pub/Sub
# service agent, or a principal named in var.dlq_operators.

resource "google_service_account" "poller" {
  account_id   = "changefeed-poller"
  display_name = "changefeed poller (Cloud Run service)"
  description  = "Polls sources, keeps the snapshot in Firestore, publishes change events."

  depends_on = [google_project_service.apis]
}

resource "google_service_account" "loader" {
  account_id   = "changefeed-loader"
  display_name = "changefeed loader (Cloud Run service)"
  description  = "Receives pushed events, or pulls them, and appends them to BigQuery."

  depends_on = [google_project_service.apis]
}

resource "google_service_account" "batch" {
  account_id   = "changefeed-batch"
  display_name = "changefeed batch (Cloud Run job)"
  description  = "Loads reference tables into BigQuery; keeps incremental cursors in Firestore."

  depends_on = [google_project_service.apis]
}

# Only with push: with pull nothing calls the loader, so there is no token to sign.
resource "google_service_account" "push" {
  count = local.loader_push ? 1 : 0

  account_id   = "changefeed-push"
  display_name = "changefeed Pub/Sub push identity"
  description  = "Signs the OIDC token of the push subscription; may only invoke the loader."

  depends_on = [google_project_service.apis]
}

resource "google_service_account" "scheduler" {
  account_id   = "changefeed-scheduler"
  display_name = "changefeed Cloud Scheduler identity"
  description  = "Starts the batch job on schedule; may only run that job."

  depends_on = [google_project_service.apis]
}

resource "google_service_account" "deployer" {
  account_id   = "changefeed-deployer"
  display_name = "changefeed Cloud Build deployer"
  description  = "Runs cloudbuild.yaml: pushes images, rolls out new revisions of the three workloads."

  depends_on = [google_project_service.apis]
}

# ---- poller ---------------------------------------------------------------------------------

resource "google_pubsub_topic_iam_member" "poller_publishes_events" {
  topic  = google_pubsub_topic.events.name
  role   = "roles/pubsub.publisher"
  member = google_service_account.poller.member
}

resource "google_project_iam_member" "poller_uses_firestore" {
  project = var.project_id
  role    = "roles/datastore.user"
  member  = google_service_account.poller.member

  condition {
    title       = "changefeed-database-only"
    description = "Only the changefeed Firestore database."
    expression  = local.firestore_condition
  }
}

# `_runs` audit rows (the table is created on first use).
resource "google_bigquery_dataset_iam_member" "poller_edits_dataset" {
  dataset_id = google_bigquery_dataset.changefeed.dataset_id
  role       = "roles/bigquery.dataEditor"
  member     = google_service_account.poller.member
}

resource "google_project_iam_member" "poller_runs_bigquery_jobs" {
  project = var.project_id
  role    = "roles/bigquery.jobUser"
  member  = google_service_account.poller.member
}

# Claim check: creates payload objects, never reads, overwrites or deletes one (an upload of an
# existing hash fails its ifGenerationMatch=0 precondition, which the poller counts as stored).
resource "google_storage_bucket_iam_member" "poller_writes_payloads" {
  bucket = google_storage_bucket.payloads.name
  role   = "roles/storage.objectCreator"
  member = google_service_account.poller.member
}

# ---- loader ---------------------------------------------------------------------------------

# Claim check: reads payload objects (and lists, to tell a missing bucket from a missing object).
resource "google_storage_bucket_iam_member" "loader_reads_payloads" {
  bucket = google_storage_bucket.payloads.name
  role   = "roles/storage.objectViewer"
  member = google_service_account.loader.member
}

# Storage Write appends (bigquery.tables.updateData), table and view creation on first use.
resource "google_bigquery_dataset_iam_member" "loader_edits_dataset" {
  dataset_id = google_bigquery_dataset.changefeed.dataset_id
  role       = "roles/bigquery.dataEditor"
  member     = google_service_account.loader.member
}

resource "google_project_iam_member" "loader_runs_bigquery_jobs" {
  project = var.project_id
  role    = "roles/bigquery.jobUser"
  member  = google_service_account.loader.member
}

# Pull only: StreamingPull, ack, nack and lease extensions on the loader's pull subscription, and
# nothing else on Pub/Sub (no topic, no other subscription, never the project). With push the
# loader has no Pub/Sub role at all: Pub/Sub calls it.
resource "google_pubsub_subscription_iam_member" "loader_pulls_events" {
  count = local.loader_pull ? 1 : 0

  subscription = google_pubsub_subscription.loader_pull[0].name
  role         = "roles/pubsub.subscriber"
  member       = google_service_account.loader.member
}

# ---- batch ----------------------------------------------------------------------------------

# Load jobs with WRITE_TRUNCATE, merges of incremental sources, `_runs` rows.
resource "google_bigquery_dataset_iam_member" "batch_edits_dataset" {
  dataset_id = google_bigquery_dataset.changefeed.dataset_id
  role       = "roles/bigquery.dataEditor"
  member     = google_service_account.batch.member
}

resource "google_project_iam_member" "batch_runs_bigquery_jobs" {
  project = var.project_id
  role    = "roles/bigquery.jobUser"
  member  = google_service_account.batch.member
}

# Cursors (watermarks) of incremental sources.
resource "google_project_iam_member" "batch_uses_firestore" {
  project = var.project_id
  role    = "roles/datastore.user"
  member  = google_service_account.batch.member

  condition {
    title       = "changefeed-database-only"
    description = "Only the changefeed Firestore database."
    expression  = local.firestore_condition
  }
}

# ---- config and source credentials -----------------------------------------------------------

resource "google_secret_manager_secret_iam_member" "config_readers" {
  for_each = {
    poller = google_service_account.poller.member
    loader = google_service_account.loader.member
    batch  = google_service_account.batch.member
  }

  secret_id = google_secret_manager_secret.config.id
  role      = "roles/secretmanager.secretAccessor"
  member    = each.value
}

resource "google_secret_manager_secret_iam_member" "source_secret_readers" {
  # One grant per (workload, secret), however many variables name the same secret.
  for_each = merge(
    { for s in distinct([for name, s in local.poller_secrets : s.secret_id]) : "poller/${s}" => { secret_id = s, member = google_service_account.poller.member } },
    { for s in distinct([for name, s in local.batch_secrets : s.secret_id]) : "batch/${s}" => { secret_id = s, member = google_service_account.batch.member } },
  )

  project   = var.project_id
  secret_id = each.value.secret_id
  role      = "roles/secretmanager.secretAccessor"
  member    = each.value.member

  depends_on = [google_project_service.apis]
}

# ---- invokers: only these two may call the workloads ------------------------------------------

# Push only. With pull nobody may invoke the loader (like the poller; /healthz serves the probes).
resource "google_cloud_run_v2_service_iam_member" "push_invokes_loader" {
  count = local.loader_push ? 1 : 0

  project  = var.project_id
  location = google_cloud_run_v2_service.loader.location
  name     = google_cloud_run_v2_service.loader.name
  role     = "roles/run.invoker"
  member   = google_service_account.push[0].member
}

# roles/run.invoker on a job allows run.jobs.run, which is what the scheduler's jobs:run call
# needs (https://cloud.google.com/run/docs/execute/jobs-on-schedule).
resource "google_cloud_run_v2_job_iam_member" "scheduler_runs_batch" {
  project  = var.project_id
  location = google_cloud_run_v2_job.batch.location
  name     = google_cloud_run_v2_job.batch.name
  role     = "roles/run.invoker"
  member   = google_service_account.scheduler.member
}

# ---- the Pub/Sub service agent ---------------------------------------------------------------

# Dead-lettering: the agent publishes the failed message to the dead-letter topic...
resource "google_pubsub_topic_iam_member" "pubsub_agent_publishes_dead_letters" {
  topic  = google_pubsub_topic.dead_letters.name
  role   = "roles/pubsub.publisher"
  member = local.pubsub_service_agent
}

# ...and acknowledges it on the source subscription: the push or the pull one, whichever exists.
resource "google_pubsub_subscription_iam_member" "pubsub_agent_acks_dead_letters" {
  subscription = local.loader_subscription_name
  role         = "roles/pubsub.subscriber"
  member       = local.pubsub_service_agent
}

# Push OIDC tokens: the agent mints tokens as the push account. Projects that enabled Pub/Sub
# after 8 April 2021 have this through the agent's own role; older ones need the grant. Scoped
# to the push account only, never the project; with pull there is no push account.
resource "google_service_account_iam_member" "pubsub_agent_signs_as_push" {
  count = local.loader_push ? 1 : 0

  service_account_id = google_service_account.push[0].name
  role               = "roles/iam.serviceAccountTokenCreator"
  member             = local.pubsub_service_agent
}

# ---- dead-letter replay by people (`changefeed dlq`) -------------------------------------------

resource "google_pubsub_subscription_iam_member" "operators_pull_dead_letters" {
  for_each = toset(var.dlq_operators)

  subscription = google_pubsub_subscription.dead_letters.name
  role         = "roles/pubsub.subscriber"
  member       = each.value
}

resource "google_pubsub_topic_iam_member" "operators_republish_events" {
  for_each = toset(var.dlq_operators)

  topic  = google_pubsub_topic.events.name
  role   = "roles/pubsub.publisher"
  member = each.value
}

# ---- deployer (Cloud Build) --------------------------------------------------------------------

resource "google_artifact_registry_repository_iam_member" "deployer_writes_images" {
  location   = google_artifact_registry_repository.images.location
  repository = google_artifact_registry_repository.images.name
  role       = "roles/artifactregistry.writer"
  member     = google_service_account.deployer.member
}

resource "google_storage_bucket_iam_member" "deployer_reads_sources" {
  bucket = google_storage_bucket.build_source.name
  role   = "roles/storage.objectViewer"
  member = google_service_account.deployer.member
}

# A build run as a user-chosen service account writes its logs to Cloud Logging.
resource "google_project_iam_member" "deployer_writes_logs" {
  project = var.project_id
  role    = "roles/logging.logWriter"
  member  = google_service_account.deployer.member
}

# `gcloud run services update` / `gcloud run jobs update`: new revisions of existing workloads.
# Project level because gcloud also reads revisions and operations; the deployer can still only
# attach the three runtime identities below.
resource "google_project_iam_member" "deployer_deploys_run" {
  project = var.project_id
  role    = "roles/run.developer"
  member  = google_service_account.deployer.member
}

resource "google_service_account_iam_member" "deployer_acts_as_runtime" {
  for_each = {
    poller = google_service_account.poller.name
    loader = google_service_account.loader.name
    batch  = google_service_account.batch.name
  }

  service_account_id = each.value
  role               = "roles/iam.serviceAccountUser"
  member             = google_service_account.deployer.member
}
