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
