# The bus: the poller publishes CloudEvents (binary mode, ordering key <source>/<entity id>) to
# the events topic; a push subscription delivers them to the loader, in order per key, with
# retries and a dead-letter topic after max_delivery_attempts.

resource "google_pubsub_topic" "events" {
  name = local.topic_name

  depends_on = [google_project_service.apis]
}

resource "google_pubsub_topic" "dead_letters" {
  name = local.dead_letter_topic_name

  depends_on = [google_project_service.apis]
}

resource "google_pubsub_subscription" "loader_push" {
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
      service_account_email = google_service_account.push.email
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
