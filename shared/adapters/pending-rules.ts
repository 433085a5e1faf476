import { AppError } from '../errors';
import { EventType, type PendingEntry, type PendingUpdate } from '../ports';

/**
 * The rules every SnapshotStore keeps its pending entries by (see `SnapshotStore.recordPending`),
 * whatever holds them. A store keeps one record per `recordPending` call (a row, a document); each
 * record is a list of entries, and these functions decide what load returns and what a later
 * write removes from a record.
 */

/** A stored entry: `[entity id, hash, version, event type]`. JSON escapes unpaired surrogates, so every id round-trips. */
type StoredPending = [string, string, number, EventType];

const EVENT_TYPES: ReadonlySet<string> = new Set(Object.values(EventType));

/** The last entry of each entity, in first-seen order, as a store keeps a `recordPending` call. */
export function lastPendingPerEntity(pending: readonly PendingUpdate[]): PendingUpdate[] {
  const byId = new Map<string, PendingUpdate>();
  for (const p of pending) byId.set(p.entityId, p);
  return byId.size === pending.length ? [...pending] : [...byId.values()];
}

/** One stored entry's JSON; a record is these joined by commas inside `[...]`, so its size adds up. */
export function encodePendingEntry(p: PendingUpdate): string {
  const stored: StoredPending = [p.entityId, p.hash, p.version, p.type];
  return JSON.stringify(stored);
}

export function encodePendingRecord(entries: readonly PendingUpdate[]): string {
  return `[${entries.map(encodePendingEntry).join(',')}]`;
}

/** Reads a record back; anything else than what `encodePendingRecord` writes is SNAPSHOT.CORRUPT, naming `where`. */
export function decodePendingRecord(json: unknown, where: string): PendingUpdate[] {
  let raw: unknown;
  try {
    raw = typeof json === 'string' ? JSON.parse(json) : undefined;
  } catch {
    raw = undefined;
  }
  if (!Array.isArray(raw)) throw corrupt(where, 'a pending record that is not a JSON array');
  return raw.map((item: unknown, i): PendingUpdate => {
    const [entityId, hash, version, type] = Array.isArray(item) ? (item as unknown[]) : [];
    if (
      typeof entityId !== 'string' ||
      typeof hash !== 'string' ||
      typeof version !== 'number' ||
      !Number.isSafeInteger(version) ||
      version < 1 ||
      typeof type !== 'string' ||
      !EVENT_TYPES.has(type)
    ) {
      throw corrupt(where, `a malformed pending entry at index ${i}`);
    }
    return { entityId, hash, version, type: type as EventType };
  });
}

/** What `load` returns: over every record, each entity's highest-version entry. */
export function mergePendingRecords(records: Iterable<readonly PendingUpdate[]>): Map<string, PendingEntry> {
  const merged = new Map<string, PendingEntry>();
  for (const record of records) {
    for (const { entityId, type, hash, version } of record) {
      const seen = merged.get(entityId);
      if (seen === undefined || seen.version < version) merged.set(entityId, { type, hash, version });
    }
  }
  return merged;
}

/** Each entity's highest version among `entries` (a commit's updates, or a newer pending record). */
export function versionsById(
  entries: Iterable<{ readonly entityId: string; readonly version: number }>,
): Map<string, number> {
  const versions = new Map<string, number>();
  for (const { entityId, version } of entries) {
    const seen = versions.get(entityId);
    if (seen === undefined || seen < version) versions.set(entityId, version);
  }
  return versions;
}

/**
 * A stored record without the entries `covering` makes obsolete: an entity in it with at least
 * the entry's version (a commit of that version or later, or a newer pending entry). Returns
 * undefined when nothing is removed, so a store writes nothing for an untouched record.
 */
export function withoutCovered(
  record: readonly PendingUpdate[],
  covering: ReadonlyMap<string, number>,
): PendingUpdate[] | undefined {
  if (covering.size === 0) return undefined;
  const kept = record.filter((p) => {
    const version = covering.get(p.entityId);
    return version === undefined || version < p.version;
  });
  return kept.length === record.length ? undefined : kept;
}

function corrupt(where: string, what: string): AppError {
  return new AppError('SNAPSHOT.CORRUPT', `Snapshot store: ${where} holds ${what}`, {
    retryable: false,
    details: { where },
  });
}
