# The three workloads. Images: Terraform creates each workload with var.image_tag; afterwards
# Cloud Build rolls out new images (cloudbuild.yaml) and Terraform leaves the image alone, while
# still owning everything else (identity, config version, scaling, ingress).

# Always-on poll loop: exactly one instance with CPU outside requests, reachable by nobody from
# outside (no invoker binding at all; its /healthz serves Cloud Run's probes).
resource "google_cloud_run_v2_service" "poller" {
  name                = local.poller_service_name
  location            = var.region
  ingress             = "INGRESS_TRAFFIC_INTERNAL_ONLY"
  deletion_protection = var.deletion_protection
  description         = "changefeed poller: polls the stream sources and publishes change events."

  template {
    service_account = google_service_account.poller.email

    # One instance: the leases in Firestore would stop a second one from polling the same
    # sources, but it would only burn CPU. During a rollout old and new revision overlap briefly;
    # the lease hands over cleanly.
    scaling {
      min_instance_count = 1
      max_instance_count = 1
    }

    containers {
      image = local.images.poller

      ports {
        container_port = local.container_port
      }

      resources {
        limits = {
          cpu    = "1"
          memory = "512Mi"
        }
        # CPU always allocated: the poll loop runs between requests, not in them.
        cpu_idle          = false
        startup_cpu_boost = true
      }

      dynamic "env" {
        for_each = local.common_env
        content {
          name  = env.key
          value = env.value
        }
      }

      dynamic "env" {
        for_each = local.poller_secrets
        content {
          name = env.key
          value_source {
            secret_key_ref {
              secret  = env.value.secret_id
              version = env.value.version
            }
          }
        }
      }

      volume_mounts {
        name       = "config"
        mount_path = local.config_mount_path
      }

      startup_probe {
        http_get {
          path = "/healthz"
        }
        period_seconds    = 5
        failure_threshold = 12
      }

      liveness_probe {
        http_get {
          path = "/healthz"
        }
        period_seconds    = 30
        failure_threshold = 3
      }
    }

    volumes {
      name = "config"
      secret {
        secret = google_secret_manager_secret.config.secret_id
        items {
          version = google_secret_manager_secret_version.config.version
          path    = local.config_file_name
        }
      }
    }
  }

  lifecycle {
    ignore_changes = [template[0].containers[0].image, client, client_version]
  }

  depends_on = [
    google_project_service.apis,
    google_secret_manager_secret_iam_member.config_readers,
    google_secret_manager_secret_iam_member.source_secret_readers,
  ]
}

# The loader, in one of two shapes (var.loader_delivery):
# - push: the endpoint of the push subscription. Ingress is internal: Pub/Sub push from the same
#   project counts as internal traffic when it targets the run.app URL
#   (https://cloud.google.com/run/docs/securing/ingress), so the internet cannot reach it at all.
#   Authentication is required; only the push account holds run.invoker on it. Scales to zero.
# - pull: a StreamingPull consumer of the pull subscription, which runs between requests, not in
#   them: at least loader_pull_min_instances instances, CPU always allocated. Internal ingress and
#   no invoker binding at all, like the poller (its /healthz serves Cloud Run's probes).
resource "google_cloud_run_v2_service" "loader" {
  name                = local.loader_service_name
  location            = var.region
  ingress             = "INGRESS_TRAFFIC_INTERNAL_ONLY"
  deletion_protection = var.deletion_protection
  description         = local.loader_pull ? "changefeed loader: pulls change events in batches, appends them to BigQuery." : "changefeed loader: receives pushed change events, appends them to BigQuery."
  # The audience of the push token; see var.loader_audience. (Harmless with pull: no token comes.)
  custom_audiences = [var.loader_audience]

  template {
    service_account = google_service_account.loader.email
    # A push the loader has not answered by the ack deadline is redelivered anyway.
    timeout                          = "${var.push_ack_deadline_seconds}s"
    max_instance_request_concurrency = var.loader_concurrency

    # Push: Cloud Run scales with the pushed requests, down to zero. Pull: the stream needs an
    # instance always running; more start when the running ones are busy (CPU), up to the maximum.
    scaling {
      min_instance_count = local.loader_pull ? var.loader_pull_min_instances : 0
      max_instance_count = var.loader_max_instances
    }

    containers {
      image = local.images.loader

      ports {
        container_port = local.container_port
      }

      resources {
        limits = {
          cpu    = "1"
          memory = "1Gi"
        }
        # Push: every row is appended before its request is answered, no work outside requests.
        # Pull: the StreamingPull stream and its batches run outside requests; CPU always allocated.
        cpu_idle          = local.loader_push
        startup_cpu_boost = true
      }

      dynamic "env" {
        for_each = local.common_env
        content {
          name  = env.key
          value = env.value
        }
      }

      volume_mounts {
        name       = "config"
        mount_path = local.config_mount_path
      }

      startup_probe {
        http_get {
          path = "/healthz"
        }
        period_seconds    = 5
        failure_threshold = 12
      }
    }

    volumes {
      name = "config"
      secret {
        secret = google_secret_manager_secret.config.secret_id
        items {
          version = google_secret_manager_secret_version.config.version
          path    = local.config_file_name
        }
      }
    }
  }

  lifecycle {
    ignore_changes = [template[0].containers[0].image, client, client_version]

    precondition {
      condition     = local.loader_push || var.loader_pull_min_instances <= var.loader_max_instances
      error_message = "loader_pull_min_instances (${var.loader_pull_min_instances}) must not exceed loader_max_instances (${var.loader_max_instances})."
    }
  }

  depends_on = [
    google_project_service.apis,
    google_secret_manager_secret_iam_member.config_readers,
    # Pull: the consumer starts with the service, so the subscription and the right to read it first.
    google_pubsub_subscription_iam_member.loader_pulls_events,
  ]
}

# Reference tables: runs every batch source once and exits non-zero if any failed.
resource "google_cloud_run_v2_job" "batch" {
  name                = local.batch_job_name
  location            = var.region
  deletion_protection = var.deletion_protection

  template {
    task_count  = 1
    parallelism = 1

    template {
      service_account = google_service_account.batch.email
      timeout         = var.batch_task_timeout
      max_retries     = var.batch_max_retries

      containers {
        image = local.images.batch

        resources {
          limits = {
            cpu    = "1"
            memory = "1Gi"
          }
        }

        dynamic "env" {
          for_each = local.common_env
          content {
            name  = env.key
            value = env.value
          }
        }

        dynamic "env" {
          for_each = local.batch_secrets
          content {
            name = env.key
            value_source {
              secret_key_ref {
                secret  = env.value.secret_id
                version = env.value.version
              }
            }
          }
        }

        volume_mounts {
          name       = "config"
          mount_path = local.config_mount_path
        }
      }

      volumes {
        name = "config"
        secret {
          secret = google_secret_manager_secret.config.secret_id
          items {
            version = google_secret_manager_secret_version.config.version
            path    = local.config_file_name
          }
        }
      }
    }
  }

  lifecycle {
    ignore_changes = [template[0].template[0].containers[0].image, client, client_version]
  }

  depends_on = [
    google_project_service.apis,
    google_secret_manager_secret_iam_member.config_readers,
    google_secret_manager_secret_iam_member.source_secret_readers,
  ]
}

# Starts the batch job on schedule: an authenticated call to the Cloud Run Admin API's jobs:run
# with an OAuth token of the scheduler account, which may run this job and nothing else.
resource "google_cloud_scheduler_job" "batch" {
  name             = local.batch_job_name
  region           = var.region
  description      = "Runs the changefeed batch job (reference tables)."
  schedule         = var.batch_schedule
  time_zone        = var.batch_time_zone
  attempt_deadline = "180s"

  http_target {
    http_method = "POST"
    uri         = "https://${var.region}-run.googleapis.com/apis/run.googleapis.com/v1/namespaces/${var.project_id}/jobs/${google_cloud_run_v2_job.batch.name}:run"

    oauth_token {
      service_account_email = google_service_account.scheduler.email
      scope                 = "https://www.googleapis.com/auth/cloud-platform"
    }
  }

  depends_on = [google_cloud_run_v2_job_iam_member.scheduler_runs_batch]
}
