import type { DocumentSnapshot } from '@google-cloud/firestore';
import type { Clock, Lease } from '../../ports';
import type { HeldLease } from '../lease-rules';
import { corruptSnapshot } from './firestore-snapshot-errors';
import type { SourceLayout } from './firestore-snapshot-layout';
import type { CountingTransaction } from './firestore-snapshot-transactions';

/**
 * A source's lease, `sourceState/lease` (`source`, `holder`, `expiresAtMs`): each operation one
 * transaction that reads the document and writes it only if the rule allows. Commits check the
 * same document in their own transactions (`assertLeaseHeld`), so a lost lease fences them.
 */

export function parseLease(snap: DocumentSnapshot | undefined, layout: SourceLayout): HeldLease | undefined {
  if (snap?.exists !== true) return undefined;
  const holder: unknown = snap.get('holder');
  const expiresAtMs: unknown = snap.get('expiresAtMs');
  if (typeof holder !== 'string' || typeof expiresAtMs !== 'number') {
    throw corruptSnapshot(layout.lease.path, 'a lease without holder or expiresAtMs');
  }
  return { holder, expiresAtMs };
}

/** Takes the lease when it is free, expired or already `holder`'s; null when another holder has it. */
export async function acquireLeaseIn(
  tx: CountingTransaction,
  layout: SourceLayout,
  request: { readonly holder: string; readonly ttlMs: number; readonly clock: Clock },
): Promise<Lease | null> {
  const { holder } = request;
  const nowMs = request.clock.now().getTime();
  const [snap] = await tx.getAll(layout.lease);
  const current = parseLease(snap, layout);
  if (current !== undefined && current.holder !== holder && current.expiresAtMs > nowMs) return null;
  const expiresAtMs = nowMs + request.ttlMs;
  tx.set(layout.lease, { source: layout.source, holder, expiresAtMs });
  return { source: layout.source, holder, expiresAt: new Date(expiresAtMs) };
}

/** Succeeds while the lease document still names this holder, even past expiry if nobody took it. */
export async function renewLeaseIn(
  tx: CountingTransaction,
  layout: SourceLayout,
  request: { readonly lease: Lease; readonly ttlMs: number; readonly clock: Clock },
): Promise<Lease | null> {
  const { lease } = request;
  const [snap] = await tx.getAll(layout.lease);
  if (parseLease(snap, layout)?.holder !== lease.holder) return null;
  const expiresAtMs = request.clock.now().getTime() + request.ttlMs;
  tx.set(layout.lease, { source: lease.source, holder: lease.holder, expiresAtMs });
  return { ...lease, expiresAt: new Date(expiresAtMs) };
}

/** Frees the source for other holders; a lease that has meanwhile passed to another holder is left alone. */
export async function releaseLeaseIn(tx: CountingTransaction, layout: SourceLayout, lease: Lease): Promise<void> {
  const [snap] = await tx.getAll(layout.lease);
  if (parseLease(snap, layout)?.holder === lease.holder) tx.delete(layout.lease);
}
