# The bus: the poller publishes CloudEvents (binary mode, ordering key <source>/<entity id>) to
# the events topic; one subscription delivers them to the loader, in order per key, with retries
# and a dead-letter topic after max_delivery_attempts. var.loader_delivery picks which one exists:
# the push subscription (Pub/Sub POSTs to the loader) or the pull subscription (the loader reads
# it with StreamingPull). Never both: each message would be loaded twice.

locals {
  loader_push = var.loader_delivery == "push"
  loader_pull = var.loader_delivery == "pull"

  # The default of loader.pull.subscription in shared/config/defaults.ts (the rendered config
  # names it explicitly all the same).
  pull_subscription_name = "changefeed-loader-pull"

  # Whichever loader subscription exists (the dead-lettering grant of the Pub/Sub service agent).
  loader_subscription_name = one(concat(google_pubsub_subscription.loader_push[*].name, google_pubsub_subscription.loader_pull[*].name))
}

resource "google_pubsub_topic" "events" {
  name = local.topic_name

  depends_on = [google_project_service.apis]
}

resource "google_pubsub_topic" "dead_letters" {
  name = local.dead_letter_topic_name

  depends_on = [google_project_service.apis]
}

resource "google_pubsub_subscription" "loader_push" {
  count = local.loader_push ? 1 : 0

  name  = local.push_subscription_name
  topic = google_pubsub_topic.events.id

  # Events of one entity arrive in the order they were published (the poller sets the key).
  enable_message_ordering = true
  ack_deadline_seconds    = var.push_ack_deadline_seconds
  # Undelivered events wait up to 7 days (the maximum) while the loader or BigQuery is down.
  message_retention_duration = "604800s"

  push_config {
    push_endpoint = "${google_cloud_run_v2_service.loader.uri}/pubsub/push"

    # Pub/Sub signs an OIDC token as the push account for the loader's custom audience; Cloud Run
    # checks it (only that account may invoke), and so does the loader (loader.auth).
    oidc_token {
      service_account_email = google_service_account.push[0].email
      audience              = var.loader_audience
    }
  }

  retry_policy {
    minimum_backoff = var.push_min_backoff
    maximum_backoff = var.push_max_backoff
  }

  dead_letter_policy {
    dead_letter_topic     = google_pubsub_topic.dead_letters.id
    max_delivery_attempts = var.max_delivery_attempts
  }

  # Never delete the subscription for inactivity.
  expiration_policy {
    ttl = ""
  }

  # No delivery before the push account may invoke the loader and the agent may dead-letter.
  depends_on = [
    google_cloud_run_v2_service_iam_member.push_invokes_loader,
    google_service_account_iam_member.pubsub_agent_signs_as_push,
    google_pubsub_topic_iam_member.pubsub_agent_publishes_dead_letters,
  ]
}

# Pull delivery: the loader holds a StreamingPull stream on this subscription and loads what it
# receives in batches, acking each message once its row is durable and nacking it otherwise. The
# client extends the lease of what it holds, so the ack deadline only bounds how soon the messages
# of an instance that died are redelivered.
resource "google_pubsub_subscription" "loader_pull" {
  count = local.loader_pull ? 1 : 0

  name  = local.pull_subscription_name
  topic = google_pubsub_topic.events.id

  # Events of one entity arrive in the order they were published (the poller sets the key).
  enable_message_ordering = true
  ack_deadline_seconds    = var.pull_ack_deadline_seconds
  # Undelivered events wait up to 7 days (the maximum) while the loader or BigQuery is down.
  message_retention_duration = "604800s"
  # No redelivery of an acked message, and acks Pub/Sub confirms (loader.pull.exactlyOnce).
  enable_exactly_once_delivery = var.pull_exactly_once_delivery

  # A nacked message (its batch did not load) comes back after this backoff.
  retry_policy {
    minimum_backoff = var.push_min_backoff
    maximum_backoff = var.push_max_backoff
  }

  dead_letter_policy {
    dead_letter_topic     = google_pubsub_topic.dead_letters.id
    max_delivery_attempts = var.max_delivery_attempts
  }

  # Never delete the subscription for inactivity.
  expiration_policy {
    ttl = ""
  }

  # No delivery before the agent may dead-letter.
  depends_on = [
    google_pubsub_topic_iam_member.pubsub_agent_publishes_dead_letters,
  ]
}

# Dead letters wait here for `changefeed dlq` (inspect, replay to the events topic). A topic with
# no subscription would drop them.
resource "google_pubsub_subscription" "dead_letters" {
  name  = local.dead_letter_subscription_name
  topic = google_pubsub_topic.dead_letters.id

  ack_deadline_seconds       = 60
  message_retention_duration = "604800s"
  retain_acked_messages      = false

  expiration_policy {
    ttl = ""
  }
}
