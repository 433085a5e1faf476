import type { ChangeRow, EventType } from '@changefeed/shared/ports';

// Property tests that fail can be replayed by their seed: the demo data's PRNG serves here too.
export { mulberry32 } from '@changefeed/demo-api';

const T0 = Date.parse('2024-06-01T00:00:00.000Z');

/**
 * Events as the poller would emit them for `entities` entities: each is created at version 1,
 * then updated, deleted and re-created with the version rising by one per event; now and then a
 * change is re-detected at the same version with a later event time (the case `_current` breaks
 * by event time). Event times rise per entity.
 */
export function randomChangeStream(
  source: string,
  random: () => number,
  options: { readonly entities: number; readonly maxEventsPerEntity: number },
): ChangeRow[] {
  const rows: ChangeRow[] = [];
  let serial = 0;
  for (let e = 0; e < options.entities; e++) {
    const entity = `e${e}`;
    const events = 1 + Math.floor(random() * options.maxEventsPerEntity);
    let version = 0;
    let live = false;
    let at = Math.floor(random() * 1000);
    for (let i = 0; i < events; i++) {
      let type: EventType;
      if (!live) type = 'created';
      else if (random() < 0.25) type = 'deleted';
      else type = 'updated';
      const sameVersion = live && type === 'updated' && random() < 0.1;
      if (!sameVersion) version += 1;
      live = type !== 'deleted';
      at += 1 + Math.floor(random() * 5);
      serial += 1;
      const eventTime = new Date(T0 + at * 1000);
      rows.push({
        event_id: `${source}/${entity}/${version}/${type}/${serial}`,
        event_type: type,
        source,
        entity_id: entity,
        version,
        data: type === 'deleted' ? null : JSON.stringify({ id: entity, version, serial }),
        event_time: eventTime,
        publish_time: new Date(eventTime.getTime() + 10),
        ingested_at: new Date(eventTime.getTime() + 20),
        delivery_attempt: null,
        message_id: `m-${serial}`,
      });
    }
  }
  return rows;
}

/**
 * `rows` in a random order, with about `duplicateShare` of them delivered again (a new message id
 * and a later ingestion, as a redelivery looks), cut into batches of 1 to `maxBatch` rows.
 */
export function shuffledBatches(
  rows: readonly ChangeRow[],
  random: () => number,
  options: { readonly duplicateShare: number; readonly maxBatch: number },
): ChangeRow[][] {
  const all: ChangeRow[] = [...rows];
  rows.forEach((row, i) => {
    if (random() < options.duplicateShare) {
      all.push({
        ...row,
        message_id: `${row.message_id}-again-${i}`,
        ingested_at: new Date(row.ingested_at.getTime() + 60_000),
        delivery_attempt: 2,
      });
    }
  });
  for (let i = all.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [all[i], all[j]] = [all[j] as ChangeRow, all[i] as ChangeRow];
  }
  const batches: ChangeRow[][] = [];
  for (let i = 0; i < all.length;) {
    const size = 1 + Math.floor(random() * options.maxBatch);
    batches.push(all.slice(i, i + size));
    i += size;
  }
  return batches;
}
