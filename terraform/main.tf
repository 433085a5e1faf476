data "google_project" "this" {
  project_id = var.project_id
}

locals {
  # Resource names. The Pub/Sub, Firestore and BigQuery ones are the defaults in
  # shared/config/defaults.ts; the rendered config names them explicitly all the same.
  topic_name                    = "changefeed-events"
  dead_letter_topic_name        = "changefeed-dead-letters"
  push_subscription_name        = "changefeed-events-loader-push"
  dead_letter_subscription_name = "changefeed-dead-letters-pull"
  firestore_collection          = "changefeed"
  dataset_id                    = "changefeed"
  repository_id                 = "changefeed"
  poller_service_name           = "changefeed-poller"
  loader_service_name           = "changefeed-loader"
  batch_job_name                = "changefeed-batch"
  config_secret_id              = "changefeed-config"
  # Bucket names are global: the project id makes this one unique.
  payload_bucket_name = "${var.project_id}-changefeed-payloads"

  # Cloud Run sends traffic to this port and sets PORT to it.
  container_port = 8080

  # The config is a Secret Manager secret mounted as a file: CHANGEFEED_CONFIG points at it.
  config_mount_path = "/etc/changefeed"
  config_file_name  = "changefeed.yaml"
  config_path       = "${local.config_mount_path}/${local.config_file_name}"

  image_prefix = "${var.region}-docker.pkg.dev/${var.project_id}/${local.repository_id}"
  images = {
    poller = "${local.image_prefix}/poller:${var.image_tag}"
    loader = "${local.image_prefix}/loader:${var.image_tag}"
    batch  = "${local.image_prefix}/batch:${var.image_tag}"
  }

  # datastore.user is granted on the project; this condition narrows it to our database.
  firestore_database_name = "projects/${var.project_id}/databases/${google_firestore_database.changefeed.name}"
  firestore_condition     = "resource.name == \"${local.firestore_database_name}\" || resource.name.startsWith(\"${local.firestore_database_name}/\")"

  # Google's per-project Pub/Sub service agent: it dead-letters and signs push tokens.
  pubsub_service_agent = "serviceAccount:service-${data.google_project.this.number}@gcp-sa-pubsub.iam.gserviceaccount.com"

  # Environment every workload reads (see shared/config/service-env.ts). Source credentials are
  # added per workload from var.source_secrets.
  common_env = {
    CHANGEFEED_CONFIG    = local.config_path
    GOOGLE_CLOUD_PROJECT = var.project_id
    LOG_LEVEL            = var.log_level
  }
  poller_secrets = { for name, s in var.source_secrets : name => s if contains(s.services, "poller") }
  batch_secrets  = { for name, s in var.source_secrets : name => s if contains(s.services, "batch") }
}

resource "google_project_service" "apis" {
  for_each = toset([
    "artifactregistry.googleapis.com",
    "bigquery.googleapis.com",
    "bigquerystorage.googleapis.com",
    "cloudbuild.googleapis.com",
    "cloudresourcemanager.googleapis.com",
    "cloudscheduler.googleapis.com",
    "firestore.googleapis.com",
    "iam.googleapis.com",
    "logging.googleapis.com",
    "pubsub.googleapis.com",
    "run.googleapis.com",
    "secretmanager.googleapis.com",
    "storage.googleapis.com",
  ])

  service = each.value
  # Other workloads in the project may use the same APIs: destroying this stack leaves them on.
  disable_on_destroy = false
}

# Container images, one repository for the three (see the Dockerfile's targets).
resource "google_artifact_registry_repository" "images" {
  location      = var.region
  repository_id = local.repository_id
  format        = "DOCKER"
  description   = "changefeed images: poller, loader, batch (tagged with the commit SHA)."

  depends_on = [google_project_service.apis]
}

# Source uploads of `gcloud builds submit --gcs-source-staging-dir`, read by the deployer account.
resource "google_storage_bucket" "build_source" {
  name                        = "${var.project_id}-changefeed-build"
  location                    = var.region
  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"
  force_destroy               = true

  lifecycle_rule {
    condition {
      age = 7
    }
    action {
      type = "Delete"
    }
  }

  depends_on = [google_project_service.apis]
}

# Everything the first image build needs, so that it can run before the services exist:
#   terraform apply -target=terraform_data.build_prerequisites
resource "terraform_data" "build_prerequisites" {
  input = google_artifact_registry_repository.images.id

  depends_on = [
    google_artifact_registry_repository_iam_member.deployer_writes_images,
    google_storage_bucket_iam_member.deployer_reads_sources,
    google_project_iam_member.deployer_writes_logs,
  ]
}
