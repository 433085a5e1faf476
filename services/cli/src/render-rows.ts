import Table from 'cli-table3';

/** Rows as a boxed table for people, or one JSON object per line for tools. */
export function renderRows(rows: readonly Record<string, unknown>[], json: boolean): string {
  if (json) return rows.map((r) => JSON.stringify(r)).join('\n') + (rows.length > 0 ? '\n' : '');
  if (rows.length === 0) return '(no rows)\n';
  const columns = [...new Set(rows.flatMap((r) => Object.keys(r)))];
  // No colours: the output is as often piped into a file or another tool as read on a terminal.
  const table = new Table({ head: columns, wordWrap: true, style: { head: [], border: [] } });
  for (const row of rows) table.push(columns.map((c) => cell(row[c])));
  return `${table.toString()}\n(${rows.length} row${rows.length === 1 ? '' : 's'})\n`;
}

function cell(value: unknown): string {
  if (value === null || value === undefined) return '';
  if (typeof value === 'string') return value.length > 120 ? `${value.slice(0, 117)}...` : value;
  const text =
    typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint'
      ? value.toString()
      : JSON.stringify(value);
  return text.length > 120 ? `${text.slice(0, 117)}...` : text;
}
