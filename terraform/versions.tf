terraform {
  # terraform_data needs 1.4, optional object attributes and check blocks 1.5.
  required_version = ">= 1.5"

  required_providers {
    google = {
      source  = "hashicorp/google"
      version = "~> 6.0"
    }
  }

  # State is local by default. For a team, keep it in a bucket (created once, outside this stack):
  # backend "gcs" {
  #   bucket = "YOUR_PROJECT-tfstate"
  #   prefix = "changefeed"
  # }
}

provider "google" {
  project = var.project_id
  region  = var.region

  default_labels = {
    app        = "changefeed"
    managed-by = "terraform"
  }
}
