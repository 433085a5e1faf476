import type { ChangeRow } from '../../ports';
import { CURRENT_STATE } from '../../warehouse';

/**
 * `_CHANGE_SEQUENCE_NUMBER` for a change row, so that BigQuery's change data capture keeps, per
 * primary key, the event `CURRENT_STATE.latestFirst` puts first, whatever order rows arrive in.
 * The format is up to four `/`-separated sections of at most 16 hex digits, compared section by
 * section as unsigned 64-bit numbers:
 *
 * 1. the entity version (higher wins);
 * 2. the event time in microseconds since the epoch (later wins), for two events of one version;
 * 3. and 4. the first 16 bytes of the event id, UTF-8, zero-padded, each byte inverted, so that
 *    the smaller event id (by bytes, which for UTF-8 is code point order, as GoogleSQL compares
 *    strings) gives the larger number. Ids that agree in their first 16 bytes tie, and BigQuery
 *    then keeps the one it ingested last; changefeed's ids are 32 hex digits, so two distinct
 *    events tie only when their version, event time and 64 bits of hash all agree.
 *
 * https://cloud.google.com/bigquery/docs/change-data-capture#manage_custom_ordering
 */
export function changeSequenceNumber(row: Pick<ChangeRow, 'version' | 'event_time' | 'event_id'>): string {
  const version = hex64(BigInt(row.version));
  const micros = hex64(BigInt(Math.max(0, row.event_time.getTime())) * 1000n);
  const id = Buffer.alloc(16);
  Buffer.from(row.event_id, 'utf8').copy(id, 0, 0, 16);
  for (let i = 0; i < id.length; i += 1) id[i] = 0xff - (id[i] ?? 0);
  return [version, micros, id.subarray(0, 8).toString('hex'), id.subarray(8, 16).toString('hex')]
    .map((s) => s.toUpperCase())
    .join('/');
}

function hex64(n: bigint): string {
  if (n < 0n || n > 0xffff_ffff_ffff_ffffn) throw new RangeError(`${n} does not fit a sequence number section`);
  return n.toString(16).padStart(16, '0');
}

/** `_CHANGE_TYPE`: a deletion removes the row with the same primary key, anything else replaces it. */
export function changeType(row: Pick<ChangeRow, 'event_type'>): 'UPSERT' | 'DELETE' {
  return row.event_type === CURRENT_STATE.deletionType ? 'DELETE' : 'UPSERT';
}
