variable "project_id" {
  description = "The Google Cloud project to deploy into (billing enabled)."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{4,28}[a-z0-9]$", var.project_id))
    error_message = "project_id must be a GCP project id: 6-30 lowercase letters, digits and hyphens, starting with a letter."
  }
}

variable "region" {
  description = "Region for Cloud Run, Artifact Registry, Cloud Scheduler and the build bucket."
  type        = string
  default     = "us-central1"
}

variable "config_file" {
  description = <<-EOT
    Path (relative to this folder) of your changefeed YAML config: the sources, and any tunables.
    Terraform adds what it knows (backend: gcp, the gcp section, the ports Cloud Run uses,
    loader.delivery, and loader.auth with push or loader.pull.subscription with pull), stores the
    result as a Secret Manager version and mounts it into every workload.
  EOT
  type        = string
}

variable "image_tag" {
  description = <<-EOT
    Image tag the Cloud Run services and job are created with (usually a commit SHA pushed by Cloud
    Build with _DEPLOY=false). Only used on creation: later releases are rolled out by Cloud Build,
    and Terraform ignores the image from then on.
  EOT
  type        = string
  default     = "latest"
}

variable "source_secrets" {
  description = <<-EOT
    Source credentials, by the environment variable the config's auth names (tokenEnv, valueEnv,
    usernameEnv, passwordEnv). Each names an existing Secret Manager secret in this project; its
    value never passes through Terraform. `services` limits which workloads get it (default both
    the poller and the batch job; the loader never calls a source).
    Example: { CARTS_TOKEN = { secret_id = "carts-api-token" } }
  EOT
  type = map(object({
    secret_id = string
    version   = optional(string, "latest")
    services  = optional(set(string), ["poller", "batch"])
  }))
  default = {}

  validation {
    condition     = alltrue([for name, s in var.source_secrets : can(regex("^[A-Za-z_][A-Za-z0-9_]*$", name))])
    error_message = "source_secrets keys must be environment variable names."
  }

  validation {
    condition     = alltrue([for s in var.source_secrets : length(setsubtract(s.services, ["poller", "batch"])) == 0])
    error_message = "source_secrets[*].services may only contain \"poller\" and \"batch\"."
  }
}

variable "loader_audience" {
  description = <<-EOT
    Custom audience of the loader service. Pub/Sub puts it in the push OIDC token, Cloud Run and the
    loader both check it. A fixed string instead of the loader's URL avoids a cycle (the URL is only
    known once the service exists) and survives a URL change.
  EOT
  type        = string
  default     = "changefeed-loader"
}

variable "firestore_database_id" {
  description = "Firestore database for snapshots, leases and cursors. Use a named database if the project's (default) one is in Datastore mode or used by another app."
  type        = string
  default     = "(default)"
}

variable "firestore_location" {
  description = "Firestore location (a region such as us-central1, or a multi-region such as nam5). Defaults to var.region."
  type        = string
  default     = null
}

variable "bigquery_location" {
  description = "Location of the BigQuery dataset (US, EU or a region)."
  type        = string
  default     = "US"
}

variable "max_delivery_attempts" {
  description = "Deliveries of one message (push or pull) before Pub/Sub dead-letters it (Pub/Sub allows 5-100)."
  type        = number
  default     = 5

  validation {
    condition     = var.max_delivery_attempts >= 5 && var.max_delivery_attempts <= 100
    error_message = "max_delivery_attempts must be between 5 and 100."
  }
}

variable "push_ack_deadline_seconds" {
  description = "How long Pub/Sub waits for the loader to answer a push before it counts as failed; also the loader's request timeout."
  type        = number
  default     = 60

  validation {
    condition     = var.push_ack_deadline_seconds >= 10 && var.push_ack_deadline_seconds <= 600
    error_message = "push_ack_deadline_seconds must be between 10 and 600."
  }
}

variable "push_min_backoff" {
  description = "Shortest wait before Pub/Sub redelivers a failed push, or a nacked pulled message (a duration such as \"10s\")."
  type        = string
  default     = "10s"
}

variable "push_max_backoff" {
  description = "Longest wait before Pub/Sub redelivers a failed push, or a nacked pulled message (at most \"600s\")."
  type        = string
  default     = "600s"
}

variable "loader_delivery" {
  description = <<-EOT
    How events reach the loader. "push" (default): a push subscription POSTs each message to the
    loader, which Cloud Run scales with the traffic, down to zero. "pull": a pull subscription the
    loader consumes with StreamingPull in large batches; the loader then keeps at least
    loader_pull_min_instances instances running with CPU always allocated. Exactly one of the two
    subscriptions exists.
  EOT
  type        = string
  default     = "push"

  validation {
    condition     = contains(["push", "pull"], var.loader_delivery)
    error_message = "loader_delivery must be \"push\" (Pub/Sub pushes to the loader, which scales to zero) or \"pull\" (the loader pulls in batches from an always-on instance)."
  }
}

variable "pull_ack_deadline_seconds" {
  description = "Pull: the subscription's initial ack deadline. The loader's client extends the lease of what it holds, so this only bounds how soon a crashed instance's messages are redelivered."
  type        = number
  default     = 60

  validation {
    condition     = var.pull_ack_deadline_seconds >= 10 && var.pull_ack_deadline_seconds <= 600
    error_message = "pull_ack_deadline_seconds must be between 10 and 600."
  }
}

variable "pull_exactly_once_delivery" {
  description = <<-EOT
    Pull: enable Pub/Sub exactly-once delivery on the pull subscription (no redelivery of an acked
    message, and acks that Pub/Sub confirms), rendered as loader.pull.exactlyOnce. It costs
    throughput and latency: every ack waits for Pub/Sub's confirmation. Push subscriptions do not
    support it.
  EOT
  type        = bool
  default     = false
}

variable "loader_pull_min_instances" {
  description = "Pull: loader instances that always run (each holds a StreamingPull stream, with CPU always allocated, billed even when idle). At least 1, at most loader_max_instances."
  type        = number
  default     = 1

  validation {
    condition     = var.loader_pull_min_instances >= 1 && floor(var.loader_pull_min_instances) == var.loader_pull_min_instances
    error_message = "loader_pull_min_instances must be a whole number of at least 1: a pull loader with no instance running would never read the subscription."
  }
}

variable "loader_max_instances" {
  description = "Upper bound of loader instances. Push: Cloud Run scales the loader between 0 and this with the pushed requests; pull: between loader_pull_min_instances and this."
  type        = number
  default     = 10
}

variable "loader_concurrency" {
  description = "Push requests one loader instance serves at once; concurrent rows are appended together (group commit)."
  type        = number
  default     = 80
}

variable "batch_schedule" {
  description = "Cron schedule of the batch job (reference tables), in batch_time_zone."
  type        = string
  default     = "0 * * * *"
}

variable "batch_time_zone" {
  description = "Time zone of batch_schedule (tz database name)."
  type        = string
  default     = "Etc/UTC"
}

variable "batch_task_timeout" {
  description = "Longest a batch run may take before Cloud Run stops it (a duration such as \"3600s\")."
  type        = string
  default     = "3600s"
}

variable "batch_max_retries" {
  description = "Retries of a failed batch run. Loads replace or merge by id, so a retry is safe."
  type        = number
  default     = 1
}

variable "log_level" {
  description = "LOG_LEVEL of every workload: error, warn, info or debug."
  type        = string
  default     = "info"

  validation {
    condition     = contains(["error", "warn", "info", "debug"], var.log_level)
    error_message = "log_level must be one of error, warn, info, debug."
  }
}

variable "dlq_operators" {
  description = "Principals (e.g. \"group:data-eng@example.com\") allowed to replay dead letters with `changefeed dlq`: pull from the dead-letter subscription and publish to the events topic."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for m in var.dlq_operators : can(regex("^(user|group|serviceAccount|domain|principal|principalSet):", m))])
    error_message = "dlq_operators must name principals (user:, group:, serviceAccount:, domain:, principal: or principalSet:), never the public."
  }
}

variable "deletion_protection" {
  description = "Protect the Cloud Run services and job and the Firestore database from deletion. (The BigQuery dataset is never destroyed while it holds tables.)"
  type        = bool
  default     = true
}

variable "payload_retention_days" {
  description = <<-EOT
    Days a large record (over payloads.inlineMaxBytes, sent by claim check) stays in the payload
    bucket before the lifecycle rule deletes it. Longer than Pub/Sub's 7-day message retention, so a
    dead-lettered event replayed with `changefeed dlq replay` within that time still finds it.
  EOT
  type        = number
  default     = 14

  validation {
    condition     = var.payload_retention_days > 7 && floor(var.payload_retention_days) == var.payload_retention_days
    error_message = "payload_retention_days must be a whole number of days above 7 (Pub/Sub keeps a message 7 days; its payload must outlive it)."
  }
}
