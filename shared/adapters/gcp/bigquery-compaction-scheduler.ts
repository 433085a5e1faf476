import { errorMessage } from '../../errors';
import type { Logger } from '../../log';
import type { Clock } from '../../ports';

/**
 * Runs a table's compaction `intervalMs` after an append to it, and again every `intervalMs`
 * while appends keep coming; a table nobody appends to costs nothing. A failed compaction is
 * logged and tried again one interval later (the next run redoes its work). `close()` skips the
 * wait and runs a last compaction of every table appended to since its last one, so a loader
 * scaled to zero leaves `_current` up to date.
 */
export class CompactionScheduler {
  /** Tables appended to since their last compaction started. */
  private readonly dirty = new Set<string>();
  /** One loop per table while it has work. */
  private readonly loops = new Map<string, Promise<void>>();
  private readonly stop = new AbortController();

  constructor(
    private readonly compact: (table: string) => Promise<unknown>,
    private readonly intervalMs: (table: string) => number,
    private readonly clock: Clock,
    private readonly logger: Logger,
  ) {}

  /** An append to `table` resolved: its rows are visible to a compaction that starts from now on. */
  appended(table: string): void {
    if (this.stop.signal.aborted) return;
    this.dirty.add(table);
    if (this.loops.has(table)) return;
    const loop = this.loop(table).finally(() => this.loops.delete(table));
    this.loops.set(table, loop);
  }

  /** True while `table` has appends no compaction has started after. */
  pending(table: string): boolean {
    return this.dirty.has(table);
  }

  /** Stops waiting, runs the last compactions, and resolves when they are done (or failed). */
  async close(): Promise<void> {
    this.stop.abort(new Error('closing'));
    await Promise.allSettled([...this.loops.values()]);
  }

  private async loop(table: string): Promise<void> {
    while (this.dirty.has(table)) {
      try {
        await this.clock.sleep(this.intervalMs(table), this.stop.signal);
      } catch {
        // Closing: compact what is pending now, without waiting.
      }
      this.dirty.delete(table);
      try {
        await this.compact(table);
      } catch (e: unknown) {
        this.logger.warn('compaction of _current failed; retried after the interval', {
          table,
          error: errorMessage(e),
        });
        this.dirty.add(table);
        if (this.stop.signal.aborted) return;
      }
    }
  }
}
