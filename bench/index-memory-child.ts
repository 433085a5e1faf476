import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { SqliteSnapshotStore } from '@changefeed/shared/adapters/local';
import { hashRecord } from '@changefeed/shared/change';
import type { SnapshotUpdate } from '@changefeed/shared/ports';

/**
 * Child process of the index-memory benchmark (run with --expose-gc): fills a SQLite snapshot
 * store with `--entities` entries, loads it the way the poller does at the start of every cycle,
 * and reports the heap the loaded index holds. A process of its own, so nothing else is on the heap.
 */
async function main(): Promise<void> {
  const entities = Number(process.argv[process.argv.indexOf('--entities') + 1]);
  if (!Number.isSafeInteger(entities) || entities <= 0) throw new Error('--entities: expected a whole number > 0');
  const gc = (globalThis as { gc?: () => void }).gc;
  if (gc === undefined) throw new Error('run with node --expose-gc');

  const dir = mkdtempSync(path.join(tmpdir(), 'changefeed-index-'));
  try {
    const store = SqliteSnapshotStore.open(path.join(dir, 'state.sqlite'));
    const lease = await store.acquireLease('carts', 'bench', 600_000);
    if (lease === null) throw new Error('lease busy');
    const group: SnapshotUpdate[] = [];
    for (let id = 1; id <= entities; id++) {
      // Ids as the demo API's (numbers, keyed as text); a tombstone every 100th, as churn leaves them.
      group.push({ entityId: String(id), hash: hashRecord({ id }), version: 1 + (id % 5), deleted: id % 100 === 0 });
      if (group.length === 50_000 || id === entities) {
        await store.commit(lease, group);
        group.length = 0;
      }
    }

    gc();
    gc();
    const before = process.memoryUsage();
    const state = await store.load('carts');
    gc();
    gc();
    const after = process.memoryUsage();
    if (state.entries.size !== entities) throw new Error(`loaded ${state.entries.size} entries, expected ${entities}`);
    await store.close();
    const heapBytes = after.heapUsed - before.heapUsed;
    process.stdout.write(
      `${JSON.stringify({
        entities,
        heapBytes,
        bytesPerEntity: heapBytes / entities,
        rssBytesPerEntity: (after.rss - before.rss) / entities,
        // What an entry is worth in the abstract: the id's characters, the hash's, an 8-byte version.
        payloadBytesPerEntity:
          [...state.entries].reduce((n, [id, e]) => n + id.length + e.hash.length + 8, 0) / entities,
      })}\n`,
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((e: unknown) => {
  process.stderr.write(`${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
  process.exitCode = 1;
});
