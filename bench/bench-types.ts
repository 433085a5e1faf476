/**
 * What every benchmark reports: figures, each a median over measured runs (after a warm-up), and
 * the ratio of a figure against a baseline measured in the same run. Absolute figures vary with
 * the machine and its neighbours; ratios of two figures taken side by side vary much less.
 */
export interface Figure {
  /** What was measured, e.g. "hash + diff". */
  readonly label: string;
  readonly value: number;
  /** "ms", "records/s", "MiB", "B/entity", "req/s", "x" ... */
  readonly unit: string;
  /** Every measured run, for the JSON file (the table shows the median). */
  readonly samples?: readonly number[];
}

export interface Target {
  /** e.g. "diff cost ≤ 1× JSON.parse" */
  readonly label: string;
  /** The ratio the target is judged on. */
  readonly value: number;
  /** The bound; `met` is value ≤ bound for "max", value ≥ bound for "min". */
  readonly bound: number;
  readonly kind: 'max' | 'min';
  readonly met: boolean;
  /** How the value reads in the table; a ratio ("x") unless said otherwise. */
  readonly unit?: string;
}

export interface SectionResult {
  /** Short id used by `--only`, e.g. "diff". */
  readonly id: string;
  readonly title: string;
  readonly figures: readonly Figure[];
  readonly targets: readonly Target[];
  /** Conditions of the run worth reading next to the figures (N, runs, payload size...). */
  readonly notes: readonly string[];
  /**
   * Why the section measured nothing (a tool it needs is not installed): it then has no figures
   * and no targets, and the table says so instead of showing a figure that was not measured.
   */
  readonly skipped?: string;
}

export interface BenchOptions {
  /** Measured runs per figure (a warm-up run comes first and is not counted). */
  readonly runs: number;
  /** Smaller sizes, for the smoke test and a quick look; figures are not comparable with a full run. */
  readonly quick: boolean;
  /** Progress lines go here (stderr), never into the results. */
  readonly log: (line: string) => void;
  /** Where a benchmark may keep files for the run (a fresh temporary directory). */
  readonly workDir: string;
}

export function target(label: string, value: number, bound: number, kind: 'max' | 'min', unit?: string): Target {
  return { label, value, bound, kind, met: kind === 'max' ? value <= bound : value >= bound, unit };
}
