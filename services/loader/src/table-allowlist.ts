import type { SourceConfig } from '@changefeed/shared/config';

/**
 * Which tables change events may write to: each configured stream source's table, and only from
 * that source. An event naming any other table would otherwise create `<table>_changes` and
 * `<table>_current` on first sight, so a forged or misrouted event could add tables at will.
 */
export interface TableAllowlist {
  /** Why an event of `source` may not write `table`, or undefined when it may. */
  refusal(change: { readonly source: string; readonly table: string }): string | undefined;
}

/** The allowlist of a config's `sources[]`: batch sources are loaded by the batch job, never by events. */
export function tableAllowlist(sources: readonly Pick<SourceConfig, 'name' | 'mode' | 'table'>[]): TableAllowlist {
  const sourceOf = new Map(sources.filter((s) => s.mode === 'stream').map((s) => [s.table, s.name]));
  return {
    refusal({ source, table }) {
      const owner = sourceOf.get(table);
      if (owner === undefined) return `table "${table}" is not the table of any configured stream source`;
      if (owner !== source) return `table "${table}" is written by source "${owner}", not by "${source}"`;
      return undefined;
    },
  };
}
