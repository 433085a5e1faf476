# Where state and data live.

# Snapshot index buckets, source leases and incremental cursors (collection `changefeed`).
resource "google_firestore_database" "changefeed" {
  name                    = var.firestore_database_id
  location_id             = coalesce(var.firestore_location, var.region)
  type                    = "FIRESTORE_NATIVE"
  delete_protection_state = var.deletion_protection ? "DELETE_PROTECTION_ENABLED" : "DELETE_PROTECTION_DISABLED"
  # `terraform destroy` forgets the database instead of deleting the snapshots.
  deletion_policy = "ABANDON"

  depends_on = [google_project_service.apis]
}

# The warehouse. Its tables are created by the services on first use, because their schemas
# belong to the code and depend on the configured sources: `<table>_changes` (partitioned by day,
# clustered by entity id), the `<table>_current` table (primary key and clustering on the entity,
# max_staleness from the source's `current` settings) and the `<table>_history` view by the
# loader, batch tables by the batch job, `_runs` by the poller and the batch job, `_rejected` by
# the loader.
resource "google_bigquery_dataset" "changefeed" {
  dataset_id  = local.dataset_id
  location    = var.bigquery_location
  description = "changefeed: change tables, current-state tables, history views, reference tables, run audit, rejects."
  # Never drop tables with the dataset: destroy fails while tables exist.
  delete_contents_on_destroy = false

  depends_on = [google_project_service.apis]
}

# The claim check: a record larger than payloads.inlineMaxBytes (4 MiB by default) travels to
# the loader as a reference, and the record itself waits here, one object per content hash
# (`payloads/<sha256>`), written by the poller and read by the loader. Objects are deleted
# var.payload_retention_days after they were written: longer than the 7 days Pub/Sub keeps an
# undelivered or dead-lettered message, so a dead letter replayed late still finds its payload.
resource "google_storage_bucket" "payloads" {
  name                        = local.payload_bucket_name
  location                    = var.region
  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"
  # Payloads are copies of source records, re-published with the entity's next change; keeping
  # them past a `terraform destroy` protects nothing the deletion protection is there for.
  force_destroy = !var.deletion_protection

  lifecycle_rule {
    condition {
      age = var.payload_retention_days
    }
    action {
      type = "Delete"
    }
  }

  # Objects expire by the rule above; keeping their bytes for another 7 days of soft delete (the
  # default) would only be paid for.
  soft_delete_policy {
    retention_duration_seconds = 0
  }

  depends_on = [google_project_service.apis]
}

# The snapshot index keeps entity ids and bucket ids as map keys. Nothing queries them, and indexed
# every key would cost index writes and count towards Firestore's 40,000 index entries per
# document, so those maps are exempt from single-field indexing (an empty `index_config`).
# The names match UNINDEXED_SNAPSHOT_FIELDS in shared/adapters/gcp/firestore-snapshot-store.ts.
locals {
  firestore_unindexed_fields = {
    bucket_entries      = { collection = "snapshotBuckets", field = "e" }
    bucket_long_entries = { collection = "snapshotBuckets", field = "l" }
    meta_buckets        = { collection = local.firestore_collection, field = "buckets" }
  }
}

resource "google_firestore_field" "unindexed" {
  for_each = local.firestore_unindexed_fields

  project    = var.project_id
  database   = google_firestore_database.changefeed.name
  collection = each.value.collection
  field      = each.value.field

  index_config {}
}
