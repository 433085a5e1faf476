/**
 * A GitHub-flavoured Markdown table laid out the way prettier lays it out (every column padded to
 * its widest cell), so a generated table is byte for byte what `prettier --write` would leave and
 * `npm run lint` stays quiet about a README the generator just wrote.
 * https://github.github.com/gfm/#tables-extension-
 */
export function markdownTable(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const cells = [header, ...rows].map((row) => header.map((_, i) => escapeCell(row[i] ?? '')));
  // Prettier pads to at least the three dashes a delimiter cell needs.
  const widths = header.map((_, i) => Math.max(3, ...cells.map((row) => width(row[i] ?? ''))));
  const line = (row: readonly string[]): string =>
    `| ${row.map((cell, i) => cell + ' '.repeat((widths[i] ?? 0) - width(cell))).join(' | ')} |`;
  const [head = [], ...body] = cells;
  return [line(head), `| ${widths.map((w) => '-'.repeat(w)).join(' | ')} |`, ...body.map(line)].join('\n');
}

/** A cell is one line, and `|` would end it (GFM: even inside a code span). */
function escapeCell(text: string): string {
  return text.replace(/\s*\n\s*/g, ' ').replace(/(?<!\\)\|/g, '\\|');
}

/** Code points, as prettier counts the text here (no wide East Asian characters in config docs). */
function width(text: string): number {
  return [...text].length;
}
