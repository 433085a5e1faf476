import type { Figure, SectionResult } from './bench-types';

export interface BenchRun {
  readonly startedAt: string;
  readonly machine: string;
  readonly node: string;
  readonly options: { readonly runs: number; readonly quick: boolean; readonly only: readonly string[] };
  readonly sections: readonly SectionResult[];
}

/** Thousands separated, few decimals: the figures are medians of noisy runs, not exact values. */
export function formatValue(value: number, unit: string): string {
  const digits = unit === 'x' ? 2 : Math.abs(value) >= 100 ? 0 : Math.abs(value) >= 10 ? 1 : 2;
  return `${value.toLocaleString('en', { maximumFractionDigits: digits, minimumFractionDigits: unit === 'x' ? 2 : 0 })}${unit === 'x' ? '×' : ` ${unit}`}`;
}

function figureRow(figure: Figure): string {
  return `| ${figure.label} | ${formatValue(figure.value, figure.unit)} |`;
}

export function renderMarkdown(run: BenchRun): string {
  const out: string[] = [
    '# changefeed benchmarks',
    '',
    `Run ${run.startedAt} on ${run.machine}, Node ${run.node}, ${run.options.runs} measured run(s) per figure after a warm-up${run.options.quick ? ' (**quick mode**: small sizes, not comparable)' : ''}.`,
    'Figures are medians; ratios compare two figures measured side by side in the same run. Reproduce with `npm run bench`.',
    '',
    '## Targets',
    '',
    '| target | measured | met |',
    '|---|---|---|',
  ];
  for (const section of run.sections) {
    // A skipped section keeps a row, so that a missing target is never mistaken for a met one.
    if (section.skipped !== undefined) out.push(`| ${section.title} | skipped | — |`);
    for (const t of section.targets)
      out.push(
        `| ${t.label} | ${formatValue(t.value, t.unit ?? (section.id === 'index' ? 'B/entity' : 'x'))} | ${t.met ? 'yes' : '**no**'} |`,
      );
  }
  for (const section of run.sections) {
    out.push('', `## ${section.title}`, '');
    if (section.skipped === undefined) out.push('| figure | median |', '|---|---|');
    else out.push(`Skipped: ${section.skipped}`);
    for (const figure of section.figures) out.push(figureRow(figure));
    if (section.notes.length > 0) out.push('');
    for (const note of section.notes) out.push(`- ${note}`);
  }
  out.push('');
  return out.join('\n');
}

/** The same table for a terminal: aligned columns, no markdown. */
export function renderText(run: BenchRun): string {
  const rows: [string, string][] = [];
  for (const section of run.sections) {
    rows.push([`== ${section.title}`, '']);
    if (section.skipped !== undefined) rows.push([`  skipped: ${section.skipped}`, '']);
    for (const figure of section.figures) rows.push([`  ${figure.label}`, formatValue(figure.value, figure.unit)]);
    for (const t of section.targets) rows.push([`  target: ${t.label}`, t.met ? 'met' : 'MISSED']);
  }
  const width = Math.max(...rows.map(([label]) => label.length));
  return rows.map(([label, value]) => (value === '' ? label : `${label.padEnd(width)}  ${value}`)).join('\n');
}
