import { ERROR_CODES, type ErrorCodeInfo } from './codes';

/** The markers around the generated table in README.md; everything between them is rewritten. */
export const ERROR_CODE_TABLE_BEGIN = '<!-- error-codes:begin -->';
export const ERROR_CODE_TABLE_END = '<!-- error-codes:end -->';

const HEADER = ['code', 'retried', 'meaning', 'what to do'] as const;

/**
 * The error-code catalogue as a Markdown table, laid out exactly as prettier lays it out (columns
 * padded to their widest cell), so that `prettier --check` and the README test agree on one text.
 */
export function renderErrorCodeTable(codes: Readonly<Record<string, ErrorCodeInfo>> = ERROR_CODES): string {
  const rows = Object.entries(codes).map(([code, info]) => [`\`${code}\``, info.retry, info.meaning, info.action]);
  const cells = [[...HEADER], ...rows].map((row) => row.map(escapeCell));
  const widths = HEADER.map((_, column) => Math.max(3, ...cells.map((row) => width(row[column] ?? ''))));
  const line = (row: readonly string[]): string =>
    `| ${row.map((cell, column) => cell + ' '.repeat((widths[column] ?? 0) - width(cell))).join(' | ')} |`;
  const [header = [], ...body] = cells;
  return [line(header), line(widths.map((w) => '-'.repeat(w))), ...body.map(line)].join('\n');
}

/** `readme` with the text between the markers replaced by the rendered table. */
export function withErrorCodeTable(readme: string, table: string = renderErrorCodeTable()): string {
  const begin = readme.indexOf(ERROR_CODE_TABLE_BEGIN);
  const end = readme.indexOf(ERROR_CODE_TABLE_END);
  if (begin < 0 || end < begin) {
    throw new Error(`README has no ${ERROR_CODE_TABLE_BEGIN} … ${ERROR_CODE_TABLE_END} block`);
  }
  return `${readme.slice(0, begin + ERROR_CODE_TABLE_BEGIN.length)}\n\n${table}\n\n${readme.slice(end)}`;
}

/** The generated block of `readme` as it stands, without the markers; undefined without them. */
export function errorCodeTableIn(readme: string): string | undefined {
  const begin = readme.indexOf(ERROR_CODE_TABLE_BEGIN);
  const end = readme.indexOf(ERROR_CODE_TABLE_END);
  if (begin < 0 || end < begin) return undefined;
  return readme.slice(begin + ERROR_CODE_TABLE_BEGIN.length, end).trim();
}

function escapeCell(text: string): string {
  return text.replaceAll('|', '\\|');
}

/** Columns as prettier counts them: one per code point (the catalogue holds no wide characters). */
function width(text: string): number {
  return [...text].length;
}
