import { StatementType, type DuckDBConnection, type DuckDBInstance } from '@duckdb/node-api';
import { AppError } from '../../errors';
import { warehouseError } from './duckdb-errors';
import { rowObjects } from './duckdb-query-values';

/** How long a user's statement may run before it is interrupted, unless the caller says otherwise. */
export const DEFAULT_USER_QUERY_TIMEOUT_MS = 30_000;

export interface UserQueryOptions {
  /** Interrupts the statement after this long (`QUERY.TIMEOUT`). */
  readonly timeoutMs?: number;
  /** Interrupts the statement when aborted (`QUERY.CANCELLED`), e.g. when the asker went away. */
  readonly signal?: AbortSignal;
}

/**
 * Table functions a user's query may call: they compute values or read DuckDB's own catalog,
 * never a file, a URL or another SQL string. Every other table function (read_csv, read_parquet,
 * read_json, read_text, read_blob, glob, sniff_csv, query, query_table, parquet_metadata, ...) is
 * refused, so a function an extension adds later is refused too until someone lists it here.
 */
const ALLOWED_TABLE_FUNCTIONS = new Set([
  'range',
  'generate_series',
  'unnest',
  'json_each',
  'json_tree',
  'duckdb_columns',
  'duckdb_constraints',
  'duckdb_databases',
  'duckdb_indexes',
  'duckdb_schemas',
  'duckdb_tables',
  'duckdb_types',
  'duckdb_views',
  'pragma_table_info',
  'pragma_show',
]);

/** How often an interrupt is sent again until the interrupted statement has stopped. */
const INTERRUPT_REPEAT_MS = 50;

/** What the README and the refusals say is allowed. */
const ALLOWED = 'one statement that reads the warehouse (SELECT, FROM, WITH, VALUES, TABLE, DESCRIBE, SHOW, SUMMARIZE)';

/**
 * Runs a user's SQL (`changefeed query`, the control endpoint) on a connection of its own, so it
 * never shares the ingestion connection's transaction state or queue: a user's `BEGIN`, a failed
 * statement or a slow SELECT cannot abort or delay an append (DuckDB's MVCC lets the two
 * connections of one instance read and write at once).
 *
 * Before anything is bound (read_csv sniffs its file at bind time) the SQL is parsed by DuckDB
 * itself: exactly one statement, one DuckDB can serialise as a SELECT (`json_serialize_sql`
 * accepts nothing else), whose tree names no table function outside the allowlist and no file as
 * a table (`FROM 'x.csv'`). The prepared statement's type is checked again after binding. A timer
 * interrupts the statement after `timeoutMs`.
 * https://duckdb.org/docs/stable/connect/concurrency
 * https://duckdb.org/docs/stable/sql/functions/utility (json_serialize_sql)
 */
export async function runUserQuery(
  instance: DuckDBInstance,
  sql: string,
  options: UserQueryOptions = {},
): Promise<Record<string, unknown>[]> {
  const timeoutMs = options.timeoutMs ?? DEFAULT_USER_QUERY_TIMEOUT_MS;
  const connection = await instance.connect();
  try {
    await refuseUnlessRead(connection, sql);
    return await interruptible(connection, timeoutMs, options.signal, () => readAll(connection, sql));
  } finally {
    connection.closeSync();
  }
}

async function refuseUnlessRead(connection: DuckDBConnection, sql: string): Promise<void> {
  let count: number;
  try {
    count = (await connection.extractStatements(sql)).count;
  } catch (e: unknown) {
    throw warehouseError('WAREHOUSE.QUERY_FAILED', 'query', e);
  }
  if (count !== 1) throw refused(`${count} statements were sent; send one at a time`);
  const reader = await connection.runAndReadAll('SELECT json_serialize_sql($1::VARCHAR) AS tree', [sql]);
  const tree: unknown = JSON.parse(String(reader.getRows()[0]?.[0] ?? '{}'));
  if (!isRecord(tree) || tree['error'] !== false) {
    throw refused('it is not a SELECT (no writes, transactions, SET, ATTACH, INSTALL, LOAD, COPY, EXPORT or PRAGMA)');
  }
  const problem = forbiddenReference(tree);
  if (problem !== undefined) throw refused(problem);
}

/** The first table function or file the tree reads that a user query may not, described. */
function forbiddenReference(node: unknown): string | undefined {
  if (Array.isArray(node)) {
    for (const child of node) {
      const found = forbiddenReference(child);
      if (found !== undefined) return found;
    }
    return undefined;
  }
  if (!isRecord(node)) return undefined;
  if (node['type'] === 'TABLE_FUNCTION') {
    const fn = node['function'];
    const name = isRecord(fn) ? String(fn['function_name']).toLowerCase() : '?';
    if (!ALLOWED_TABLE_FUNCTIONS.has(name)) return `the table function ${name}() may read files or run other SQL`;
  }
  if (node['type'] === 'BASE_TABLE') {
    const table = String(node['table_name']);
    // DuckDB reads `FROM 'data.csv'` as a file (a replacement scan); table names here never hold these.
    if (/[./\\:]/.test(table)) return `"${table}" names a file, not a table`;
  }
  for (const value of Object.values(node)) {
    const found = forbiddenReference(value);
    if (found !== undefined) return found;
  }
  return undefined;
}

async function readAll(connection: DuckDBConnection, sql: string): Promise<Record<string, unknown>[]> {
  try {
    const prepared = await connection.prepare(sql);
    // PRAGMA and CALL are rewritten to SELECTs by the binder, so this is a second check, not the first.
    if (prepared.statementType !== StatementType.SELECT) throw refused('it is not a SELECT');
    const reader = await prepared.runAndReadAll();
    return rowObjects(reader);
  } catch (e: unknown) {
    throw warehouseError('WAREHOUSE.QUERY_FAILED', 'query', e);
  }
}

/**
 * Interrupts the connection's statement after `timeoutMs` or when `signal` aborts; only this
 * query's connection is touched, so ingestion on the other connection goes on.
 */
async function interruptible<T>(
  connection: DuckDBConnection,
  timeoutMs: number,
  signal: AbortSignal | undefined,
  work: () => Promise<T>,
): Promise<T> {
  let stopped: 'timeout' | 'aborted' | undefined;
  let repeat: NodeJS.Timeout | undefined;
  const stop = (why: 'timeout' | 'aborted'): void => {
    stopped ??= why;
    connection.interrupt();
    // An interrupt that lands between prepare and execute is cleared when the next statement
    // starts, so it is repeated until the work settles.
    repeat ??= setInterval(() => connection.interrupt(), INTERRUPT_REPEAT_MS);
  };
  const timer = setTimeout(() => stop('timeout'), timeoutMs);
  const onAbort = (): void => stop('aborted');
  if (signal?.aborted === true) stopped = 'aborted';
  signal?.addEventListener('abort', onAbort, { once: true });
  try {
    if (stopped === 'aborted') throw new Error('aborted before it started');
    return await work();
  } catch (e: unknown) {
    if (stopped === 'timeout') {
      throw new AppError('QUERY.TIMEOUT', `The query was interrupted after ${timeoutMs} ms (the query timeout)`, {
        retryable: false,
        cause: e,
        details: { timeoutMs },
      });
    }
    if (stopped === 'aborted') {
      throw new AppError('QUERY.CANCELLED', 'The query was cancelled', { retryable: false, cause: e });
    }
    throw e;
  } finally {
    clearTimeout(timer);
    clearInterval(repeat);
    signal?.removeEventListener('abort', onAbort);
  }
}

function refused(why: string): AppError {
  return new AppError('QUERY.REFUSED', `Query refused: ${why}. Allowed: ${ALLOWED}.`, { retryable: false });
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
