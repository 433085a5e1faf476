# Copy to terraform.tfvars (git-ignored) and fill in.
project_id  = "my-project-123456"
region      = "us-central1"
config_file = "../changefeed.gcp.yaml"

# Source credentials: environment variable named in the config => existing Secret Manager secret.
source_secrets = {
  CARTS_TOKEN = { secret_id = "carts-api-token" }
  # A batch-only credential:
  # REF_API_KEY = { secret_id = "ref-api-key", services = ["batch"] }
}

# Set once images exist (see README, "Deploying to GCP"):
# image_tag = "<commit sha>"

# People who may replay dead letters:
# dlq_operators = ["group:data-eng@example.com"]

# How events reach the loader (README, "Push or pull"). Push, the default, scales the loader to
# zero; pull keeps loader_pull_min_instances instances running (CPU always allocated) that read a
# pull subscription in large batches:
# loader_delivery            = "pull"
# loader_pull_min_instances  = 1     # pull: instances always running (>= 1, <= loader_max_instances)
# pull_exactly_once_delivery = false # pull: no redelivery of acked messages, at some throughput
# pull_ack_deadline_seconds  = 60    # pull: redelivery delay of what a crashed instance held
