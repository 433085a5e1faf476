# The changefeed config, delivered as a Secret Manager secret mounted as a file.
#
# Why a secret volume (the config itself holds no secrets): every change is a new, numbered,
# immutable version, and each Cloud Run revision pins the version it was created with, so a
# revision always runs exactly the config it was deployed with and rolling back a revision rolls
# back its config. The services read the config once at start-up, so a new config must mean a new
# revision anyway: `terraform apply` with a changed file creates both. It needs no extra bucket,
# no FUSE mount and no storage permission, and Secret Manager is already used for the sources'
# credentials. A config is far below the 64 KiB limit of a secret version.

locals {
  user_config = yamldecode(file(var.config_file))

  # What Terraform knows better than the file: where everything is, and how Cloud Run reaches the
  # services. Merged over the file, so these values always match the infrastructure.
  managed_config = {
    backend = "gcp"
    gcp = {
      projectId = var.project_id
      pubsub = {
        topic                  = local.topic_name
        deadLetterSubscription = local.dead_letter_subscription_name
      }
      firestore = {
        databaseId = var.firestore_database_id
        collection = local.firestore_collection
      }
      bigquery = {
        dataset  = local.dataset_id
        location = var.bigquery_location
      }
      storage = {
        payloadBucket = google_storage_bucket.payloads.name
      }
    }
    poller = {
      port = local.container_port
    }
    loader = {
      host = "0.0.0.0"
      port = local.container_port
      # The subscription Terraform created decides, whatever the file says.
      delivery = var.loader_delivery
    }
  }

  # The loader keys only one delivery mode has, picked by var.loader_delivery.
  managed_loader_delivery = {
    # The loader verifies the push token too: same audience and account as the subscription.
    push = {
      auth = {
        audience            = var.loader_audience
        serviceAccountEmail = one(google_service_account.push[*].email)
      }
    }
    # No loader.auth with pull: no push comes, there is no push account, and nobody may invoke the
    # loader at all (Cloud Run refuses every request without run.invoker before the loader sees
    # it). The file's loader.pull tunables (flow control, batch window) stay.
    pull = {
      pull = merge(try(local.user_config.loader.pull, {}), local.managed_pull)
    }
  }
  managed_pull = {
    subscription = one(google_pubsub_subscription.loader_pull[*].name)
    exactlyOnce  = var.pull_exactly_once_delivery
  }

  rendered_config = yamlencode(merge(local.user_config, local.managed_config, {
    # Keep the file's tunables (leaseTtl, groupCommitMaxRows, ...) next to the managed keys.
    poller = merge(try(local.user_config.poller, {}), local.managed_config.poller)
    loader = merge(
      try(local.user_config.loader, {}),
      local.managed_config.loader,
      local.managed_loader_delivery[var.loader_delivery],
    )
  }))

  # Every environment variable the sources' auth blocks name (tokenEnv, valueEnv, ...).
  auth_env_names = toset(flatten([
    for source in try(local.user_config.sources, []) : [
      for key, value in try(source.auth, {}) : value if endswith(key, "Env")
    ]
  ]))
  missing_source_secrets = setsubtract(local.auth_env_names, keys(var.source_secrets))
}

resource "google_secret_manager_secret" "config" {
  secret_id = local.config_secret_id

  replication {
    auto {}
  }

  depends_on = [google_project_service.apis]
}

resource "google_secret_manager_secret_version" "config" {
  secret      = google_secret_manager_secret.config.id
  secret_data = local.rendered_config

  lifecycle {
    precondition {
      condition     = length(try(local.user_config.sources, [])) > 0
      error_message = "${var.config_file}: expected a `sources` list with at least one source."
    }
    precondition {
      condition     = length(local.missing_source_secrets) == 0
      error_message = "${var.config_file} names credentials that source_secrets does not map to a secret: ${join(", ", sort(tolist(local.missing_source_secrets)))}."
    }
  }
}
