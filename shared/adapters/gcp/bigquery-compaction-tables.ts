import type { TableMetadata } from '@google-cloud/bigquery';
import { CHANGES_TABLE, CURRENT_STATE, tombstoneColumns } from '../../warehouse';
import { tableFields } from './bigquery-tables';

/**
 * The internal tables of merge mode (`current.mode: merge`), next to the user's tables. They
 * start with `_changefeed_`; nothing but the compaction reads or writes them.
 */

/**
 * Pending rows live this long. A compaction whose last watermark is older than this (less a
 * day's margin) reads the whole `_changes` table instead, as the first one does.
 */
export const PENDING_RETENTION_MS = 7 * 24 * 60 * 60 * 1000;
export const PENDING_RETENTION_MARGIN_MS = 24 * 60 * 60 * 1000;

/**
 * A compaction reads the pending rows ingested after its last watermark less this. It covers
 * rows stamped `ingested_at` before the last compaction but appended after it read: an append
 * in flight. One that takes longer than Pub/Sub's longest ack deadline (10 minutes) has been
 * redelivered meanwhile, and the redelivered copy carries a later `ingested_at`.
 * https://cloud.google.com/pubsub/docs/lease-management
 */
export const COMPACTION_OVERLAP_MS = 10 * 60 * 1000;

/**
 * `_changefeed_<table>_pending`: a copy of each change row, appended right after the row reached
 * `_changes`, that the compaction reads. Partitioned by hour on `ingested_at` so that reading the
 * rows since the watermark prunes to the newest partitions (`_changes` is partitioned on
 * `event_time`, which says nothing about when a row arrived: a replayed dead letter is old), and
 * expiring after a week, so it stays a few hours of rows in size.
 */
export function pendingTableMetadata(): TableMetadata {
  return {
    schema: { fields: tableFields(CHANGES_TABLE.columns) },
    timePartitioning: { type: 'HOUR', field: 'ingested_at', expirationMs: String(PENDING_RETENTION_MS) },
    clustering: { fields: [...CURRENT_STATE.key] },
    description: 'changefeed (merge mode): recent change rows awaiting compaction into _current; expire after 7 days.',
  };
}

/**
 * `_changefeed_<table>_deleted`: per deleted entity, its deleting event, so that an older event
 * arriving later cannot bring the entity back into `_current`. An entity is in `_current` or
 * here, not both; a re-creation removes its row here.
 */
export function deletedTableMetadata(): TableMetadata {
  return {
    schema: { fields: tableFields(tombstoneColumns()) },
    clustering: { fields: [...CURRENT_STATE.key] },
    description: 'changefeed (merge mode): the deleting event of each deleted entity.',
  };
}

/** `_changefeed_compactions`: one row per compaction, for the watermark and for whoever watches lag. */
export function compactionsTableMetadata(): TableMetadata {
  return {
    schema: {
      fields: [
        { name: 'table_name', type: 'STRING', mode: 'REQUIRED', description: 'The stream table compacted.' },
        {
          name: 'watermark',
          type: 'TIMESTAMP',
          mode: 'REQUIRED',
          description: 'The latest ingested_at among the rows read.',
        },
        { name: 'events', type: 'INT64', mode: 'REQUIRED', description: 'Change rows read.' },
        { name: 'full_build', type: 'BOOL', mode: 'REQUIRED', description: 'Read all of _changes.' },
        { name: 'compacted_at', type: 'TIMESTAMP', mode: 'REQUIRED', description: 'When it committed.' },
      ],
    },
    timePartitioning: { type: 'DAY', field: 'compacted_at' },
    clustering: { fields: ['table_name'] },
    description: 'changefeed (merge mode): one row per compaction of a _current table.',
  };
}
