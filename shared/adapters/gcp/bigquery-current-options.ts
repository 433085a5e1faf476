import type { Config } from '../../config';
import { DEFAULTS } from '../../config/defaults';

/** How one stream table's `<table>_current` is maintained (`sources[].current` in the config). */
export interface CurrentOptions {
  readonly mode: 'cdc' | 'merge';
  /** cdc: the table's `max_staleness`. */
  readonly maxStalenessMs: number;
  /** merge: how long after an append the compaction runs; 0 compacts within the append. */
  readonly compactEveryMs: number;
}

/** What `sources[].current` defaults to. */
export const DEFAULT_CURRENT_OPTIONS: CurrentOptions = {
  mode: DEFAULTS.source.current.mode,
  maxStalenessMs: DEFAULTS.source.current.maxStaleness.totalOf('millisecond'),
  compactEveryMs: DEFAULTS.source.current.compactEvery.totalOf('millisecond'),
};

/** Each source's `current` settings, by the table it writes; a table no source names gets the defaults. */
export function currentOptionsByTable(config: Pick<Config, 'sources'>): (table: string) => CurrentOptions {
  const byTable = new Map<string, CurrentOptions>(
    config.sources.map((s) => [
      s.table,
      {
        mode: s.current.mode,
        maxStalenessMs: s.current.maxStaleness.totalOf('millisecond'),
        compactEveryMs: s.current.compactEvery.totalOf('millisecond'),
      },
    ]),
  );
  return (table) => byTable.get(table) ?? DEFAULT_CURRENT_OPTIONS;
}
