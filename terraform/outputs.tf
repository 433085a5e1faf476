output "image_repository" {
  description = "Artifact Registry path the images are pushed to: <this>/<poller|loader|batch>:<commit sha>."
  value       = local.image_prefix
}

output "build_source_bucket" {
  description = "Bucket for `gcloud builds submit --gcs-source-staging-dir gs://<this>/source`."
  value       = google_storage_bucket.build_source.name
}

output "payload_bucket" {
  description = "Bucket of the claim check: records over payloads.inlineMaxBytes, deleted after payload_retention_days."
  value       = google_storage_bucket.payloads.name
}

output "deployer_service_account" {
  description = "Resource name to pass to `gcloud builds submit --service-account` (or a Cloud Build trigger)."
  value       = google_service_account.deployer.id
}

output "poller_service" {
  description = "Cloud Run service of the poller."
  value       = google_cloud_run_v2_service.poller.name
}

output "loader_service" {
  description = "Cloud Run service of the loader."
  value       = google_cloud_run_v2_service.loader.name
}

output "loader_url" {
  description = "The loader's URL; reachable only from inside the project, and only by the push account (with pull, by nobody)."
  value       = google_cloud_run_v2_service.loader.uri
}

output "batch_job" {
  description = "Cloud Run job of the batch loads (`gcloud run jobs execute <this> --region <region>` runs it now)."
  value       = google_cloud_run_v2_job.batch.name
}

output "events_topic" {
  description = "Pub/Sub topic the poller publishes change events to."
  value       = google_pubsub_topic.events.name
}

output "loader_delivery" {
  description = "How events reach the loader: push or pull (var.loader_delivery)."
  value       = var.loader_delivery
}

output "push_subscription" {
  description = "Push subscription that delivers events to the loader; null with loader_delivery = \"pull\"."
  value       = one(google_pubsub_subscription.loader_push[*].name)
}

output "pull_subscription" {
  description = "Pull subscription the loader reads with StreamingPull (loader.pull.subscription); null with loader_delivery = \"push\"."
  value       = one(google_pubsub_subscription.loader_pull[*].name)
}

output "dead_letter_subscription" {
  description = "Pull subscription holding dead-lettered events for `changefeed dlq`."
  value       = google_pubsub_subscription.dead_letters.name
}

output "bigquery_dataset" {
  description = "BigQuery dataset of the warehouse (project.dataset)."
  value       = "${var.project_id}.${google_bigquery_dataset.changefeed.dataset_id}"
}

output "firestore_database" {
  description = "Firestore database of snapshots, leases and cursors."
  value       = google_firestore_database.changefeed.name
}

output "config_secret" {
  description = "Secret Manager secret holding the rendered config; each version is one deployed config."
  value       = google_secret_manager_secret.config.secret_id
}

output "config_version" {
  description = "Version of the config secret the current revisions mount."
  value       = google_secret_manager_secret_version.config.version
}

output "rendered_config" {
  description = "The config the workloads read: your file plus the gcp section, ports, loader.delivery and loader.auth (push) or loader.pull.subscription (pull)."
  value       = local.rendered_config
}

output "service_accounts" {
  description = "Email of each identity."
  value = {
    poller    = google_service_account.poller.email
    loader    = google_service_account.loader.email
    batch     = google_service_account.batch.email
    push      = one(google_service_account.push[*].email) # null with pull: no push account
    scheduler = google_service_account.scheduler.email
    deployer  = google_service_account.deployer.email
  }
}
