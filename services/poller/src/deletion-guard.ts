import type { SnapshotEntry } from '@changefeed/shared/ports';
import { AppError } from '@changefeed/shared/errors';

export const TOO_MANY_DELETIONS = 'POLL.TOO_MANY_DELETIONS';

export interface DeletionGuardOptions {
  readonly source: string;
  /** The largest share of the known live entities one cycle may delete (0 < share ≤ 1). */
  readonly maxDeletedShare: number;
  /** Below this many live entities the guard stays out of the way: small sources swing widely. */
  readonly minEntities: number;
}

/**
 * An API that answers 200 with an empty or truncated list (a broken filter, a wrong account, an
 * outage page served as success) looks exactly like mass deletion. Publishing it would write a
 * tombstone for every entity and empty `<table>_current`; refusing the cycle costs one missed cycle
 * when the deletions are real, and the operator raises the share to let them through.
 */
export function assertDeletionsPlausible(
  deleted: number,
  snapshot: ReadonlyMap<string, SnapshotEntry>,
  options: DeletionGuardOptions,
): void {
  if (deleted === 0 || options.maxDeletedShare >= 1) return;
  let live = 0;
  for (const entry of snapshot.values()) if (!entry.deleted) live += 1;
  if (live < options.minEntities || deleted <= live * options.maxDeletedShare) return;
  const percent = ((deleted / live) * 100).toFixed(1);
  throw new AppError(
    TOO_MANY_DELETIONS,
    `source "${options.source}": this cycle would delete ${deleted} of ${live} known entities (${percent}%), ` +
      `more than sources[].maxDeletedShare (${options.maxDeletedShare}) allows; no deletion was published (this cycle's creations and updates were). ` +
      'If the API really lost them, raise maxDeletedShare (1 turns the guard off) and the next cycle emits the deletions.',
  );
}
