import { mkdtemp, open, rm } from 'node:fs/promises';
import { lastPerKey, parseKeyPath } from '../../change';
import { tmpdir } from 'node:os';
import path from 'node:path';
import {
  DuckDBDecimalValue,
  DuckDBInstance,
  DuckDBTypeId,
  JsonDuckDBValueConverter,
  dateFromTimestampMillisecondsValue,
  dateFromTimestampNanosecondsValue,
  dateFromTimestampSecondsValue,
  dateFromTimestampTZValue,
  dateFromTimestampValue,
  timestampTZValue,
  type DuckDBAppender,
  type DuckDBConnection,
  type DuckDBValue,
  type DuckDBValueConverter,
  type Json,
} from '@duckdb/node-api';
import { AppError } from '../../errors';
import { createSilentLogger, type Logger } from '../../log';
import type { ChangeRow, JsonRecord, ReferenceLoader, RejectedRow, RowSink, RunLog, RunRecord } from '../../ports';

export interface DuckDbWarehouseOptions {
  /** Open for queries only; every write rejects with `WAREHOUSE.READ_ONLY`. */
  readonly readOnly?: boolean;
  readonly logger?: Logger;
}

/** The column reference tables get with the time of the load that wrote each row. */
export const LOADED_AT_COLUMN = '_loaded_at';

/**
 * The local stand-in for BigQuery: one DuckDB file holding `<source>_changes` (append-only, one
 * row per event), the `<source>_current` view, `_rejected`, `_runs` and the batch sources'
 * reference tables.
 *
 * DuckDB allows one read-write process per file, and a connection runs one statement at a time;
 * every operation is therefore queued on the single connection, so a group commit, a batch load,
 * a run record and a user's query never interleave inside each other's transactions.
 * https://duckdb.org/docs/stable/connect/concurrency
 */
export class DuckDbWarehouse implements RowSink, ReferenceLoader, RunLog {
  /** Tables (lower-cased, as DuckDB compares names) known to exist, so appends skip the DDL. */
  private readonly ensured = new Set<string>();
  private queue: Promise<void> = Promise.resolve();
  private closed = false;
  private closing: Promise<void> | undefined;

  private constructor(
    private readonly file: string,
    private readonly openKey: string | undefined,
    private readonly instance: DuckDBInstance,
    private readonly connection: DuckDBConnection,
    private readonly readOnly: boolean,
    private readonly logger: Logger,
  ) {}

  /**
   * Opens (creating when writable) the warehouse file; `':memory:'` gives a private in-memory one.
   * Rejects with `WAREHOUSE.LOCKED` when another process (or this one) already has the file open:
   * DuckDB refuses even a read-only open while a writer holds it.
   */
  static async open(file: string, options: DuckDbWarehouseOptions = {}): Promise<DuckDbWarehouse> {
    const readOnly = options.readOnly ?? false;
    const logger = options.logger ?? createSilentLogger();
    const openKey = file === ':memory:' ? undefined : path.resolve(file);
    // DuckDB's file lock is per process, so a second instance in this process would be allowed
    // and two buffer managers would write the same file: refuse it here instead.
    if (openKey !== undefined && openFiles.has(openKey)) {
      throw new AppError(
        'WAREHOUSE.LOCKED',
        `Cannot open the warehouse "${file}": it is already open in this process; share that instance instead.`,
        { retryable: false, details: { file } },
      );
    }
    // Claimed before the first await, so two concurrent opens cannot both pass the check.
    if (openKey !== undefined) openFiles.add(openKey);
    let instance: DuckDBInstance | undefined;
    let connection: DuckDBConnection;
    try {
      instance = await DuckDBInstance.create(file, readOnly ? { access_mode: 'READ_ONLY' } : {});
      connection = await instance.connect();
    } catch (e: unknown) {
      instance?.closeSync();
      if (openKey !== undefined) openFiles.delete(openKey);
      throw openError(file, e);
    }
    logger.debug('warehouse open', { file, readOnly });
    return new DuckDbWarehouse(file, openKey, instance, connection, readOnly, logger);
  }

  /**
   * Appends all `rows` in one transaction: every row is written or none is. A row that can never
   * be stored (e.g. `data` that is not JSON, a fractional version) rejects the whole call with
   * `WAREHOUSE.INVALID_ROW` (not retryable), whose message names the row and the column.
   */
  appendChanges(table: string, rows: readonly ChangeRow[]): Promise<void> {
    const changes = `${table}_changes`;
    return this.write(`appending ${rows.length} rows to "${changes}"`, async () => {
      if (rows.length === 0) return;
      await this.ensureChangesTable(table);
      await this.appendRows(changes, CHANGE_COLUMNS, rows, (row) => `event ${row.event_id}`);
    });
  }

  appendRejected(rows: readonly RejectedRow[]): Promise<void> {
    return this.write(`appending ${rows.length} rows to "${REJECTED_TABLE}"`, async () => {
      if (rows.length === 0) return;
      await this.ensureTable(REJECTED_TABLE, REJECTED_COLUMNS);
      await this.appendRows(REJECTED_TABLE, REJECTED_COLUMNS, rows, (row) => `message ${row.message_id ?? '?'}`);
    });
  }

  recordRun(run: RunRecord): Promise<void> {
    return this.write(`recording run ${run.runId}`, async () => {
      await this.ensureTable(RUNS_TABLE, RUN_COLUMNS);
      await this.appendRows(RUNS_TABLE, RUN_COLUMNS, [run], (r) => `run ${r.runId}`);
    });
  }

  /**
   * Replaces `table` with `records` in one transaction (readers see the old or the new table).
   * Columns are the records' top-level keys, typed by DuckDB's JSON inference over all records;
   * a key missing from a record is NULL, a key whose values have different JSON types is stored
   * as JSON text, and every row gets `_loaded_at` (a record's own `_loaded_at` is overwritten).
   * Empty `records` empty an existing table (keeping its columns) and create nothing otherwise:
   * with no records there are no columns to infer.
   * https://duckdb.org/docs/stable/data/json/loading_json
   */
  async replaceTable(table: string, records: readonly JsonRecord[]): Promise<number> {
    const what = `replacing "${table}" with ${records.length} records`;
    if (records.length === 0) {
      return this.write(what, () =>
        this.transaction(async (c) => {
          if (await this.tableExists(table)) await c.run(`DELETE FROM ${ident(table)}`);
          return 0;
        }),
      );
    }
    return this.load(what, records, async (file) => {
      const startedMs = Date.now();
      await this.transaction((c) =>
        c.run(`CREATE OR REPLACE TABLE ${ident(table)} AS SELECT ${withLoadedAt(file)} FROM ${READ_JSON}`, [
          file.path,
          file.maxObjectBytes,
        ]),
      );
      this.logger.debug('reference table replaced', {
        table,
        rows: records.length,
        durationMs: Date.now() - startedMs,
      });
      return records.length;
    });
  }

  /**
   * Upserts `records` by `keyField` in one transaction: rows whose key is among the records'
   * keys are deleted, then the records are inserted by column name. Within one call the last
   * record with a given key wins. The first call creates the table as `replaceTable` does; later
   * calls add columns for new keys and widen a column whose values no longer fit its type (e.g.
   * a struct gaining a field), so a source growing its schema never fails a merge.
   */
  async mergeRecords(table: string, records: readonly JsonRecord[], keyField: string): Promise<number> {
    const what = `merging ${records.length} records into "${table}" by ${keyField}`;
    const keyPath = parseKeyPath(keyField);
    if (records.length === 0) return this.write(what, () => Promise.resolve(0));
    const unique = lastPerKey(records, keyPath);
    return this.load(what, unique, async (file) => {
      const startedMs = Date.now();
      await this.transaction(async (c) => {
        const params = [file.path, file.maxObjectBytes];
        if (!(await this.tableExists(table))) {
          await c.run(`CREATE TABLE ${ident(table)} AS SELECT ${withLoadedAt(file)} FROM ${READ_JSON}`, params);
          return;
        }
        const stage = ident(MERGE_STAGE_TABLE);
        const ownLoadedAt = file.hasLoadedAt ? ` EXCLUDE (${ident(LOADED_AT_COLUMN)})` : '';
        await c.run(`CREATE OR REPLACE TEMP TABLE ${stage} AS SELECT *${ownLoadedAt} FROM ${READ_JSON}`, params);
        await this.alignColumns(c, table, MERGE_STAGE_TABLE);
        const key = (alias: string): string => [alias, ...keyPath.map(ident)].join('.');
        await c.run(`DELETE FROM ${ident(table)} AS t WHERE ${key('t')} IN (SELECT ${key('s')} FROM ${stage} AS s)`);
        await c.run(`INSERT INTO ${ident(table)} BY NAME SELECT *, now() AS ${ident(LOADED_AT_COLUMN)} FROM ${stage}`);
        await c.run(`DROP TABLE ${stage}`);
      });
      this.logger.debug('reference table merged', { table, rows: unique.length, durationMs: Date.now() - startedMs });
      return unique.length;
    });
  }

  /**
   * Runs one SQL statement and returns its rows as JSON-friendly objects: BIGINTs as numbers
   * when exactly representable (strings otherwise), timestamps as ISO 8601 strings in UTC to the
   * millisecond, JSON columns parsed, lists and structs as arrays and objects. The statement may
   * also write (the CLI passes the user's SQL as is); it runs between, never inside, other writes.
   */
  query(sql: string): Promise<Record<string, unknown>[]> {
    return this.exclusive(async () => {
      // The statement may create or drop anything, so what was ensured is no longer known.
      this.ensured.clear();
      try {
        const reader = await this.connection.runAndReadAll(sql);
        // Converted here rather than by reader.convertRowObjects: that passes each value the
        // vector's type, which has lost the column's JSON alias, so JSON would stay text.
        const names = reader.deduplicatedColumnNames();
        const columns = reader.columnTypes().map((type, i) => ({ type, name: names[i] }));
        return reader.getRows().map((row) => {
          const object: Record<string, unknown> = {};
          row.forEach((value, i) => {
            const column = columns[i];
            if (column?.name !== undefined) object[column.name] = jsonFriendly(value, column.type, jsonFriendly);
          });
          return object;
        });
      } catch (e: unknown) {
        throw warehouseError('WAREHOUSE.QUERY_FAILED', 'query', e);
      }
    });
  }

  /** Waits for queued operations, then closes; idempotent. DuckDB checkpoints the WAL on close. */
  close(): Promise<void> {
    this.closing ??= this.exclusive(() => {
      this.closed = true;
      if (this.openKey !== undefined) openFiles.delete(this.openKey);
      this.connection.closeSync();
      this.instance.closeSync();
      this.logger.debug('warehouse closed', { file: this.file });
      return Promise.resolve();
    });
    return this.closing;
  }

  /** Runs `work` after every operation queued before it, alone on the connection. */
  private exclusive<T>(work: () => Promise<T>): Promise<T> {
    const result = this.queue.then(() => {
      if (this.closed) {
        throw new AppError('WAREHOUSE.CLOSED', `The warehouse "${this.file}" is closed`, { retryable: false });
      }
      return work();
    });
    this.queue = result.then(
      () => undefined,
      () => undefined,
    );
    return result;
  }

  /**
   * Runs a reference load: the NDJSON file is written at once, next to operations already
   * queued, but the load takes its place in the queue now, so loads apply in call order.
   */
  private load<T>(what: string, records: readonly JsonRecord[], work: (file: NdjsonFile) => Promise<T>): Promise<T> {
    // Refused before a temp file is written for nothing.
    if (this.readOnly) return Promise.reject(this.readOnlyError(what));
    const prepared = writeNdjsonFile(records);
    return this.write(what, async () => work(await prepared)).finally(() =>
      prepared.then(
        (file) =>
          rm(file.dir, { recursive: true, force: true }).catch((e: unknown) => {
            this.logger.warn('temp load file not removed', { dir: file.dir, error: messageOf(e) });
          }),
        () => undefined,
      ),
    );
  }

  private write<T>(what: string, work: () => Promise<T>): Promise<T> {
    return this.exclusive(async () => {
      this.assertWritable(what);
      try {
        return await work();
      } catch (e: unknown) {
        throw warehouseError('WAREHOUSE.WRITE_FAILED', what, e);
      }
    });
  }

  private assertWritable(what: string): void {
    if (this.readOnly) throw this.readOnlyError(what);
  }

  private readOnlyError(what: string): AppError {
    return new AppError('WAREHOUSE.READ_ONLY', `${what}: the warehouse "${this.file}" is open read-only`, {
      retryable: false,
    });
  }

  /**
   * BEGIN ... COMMIT, and ROLLBACK on any error. Never COMMIT after a failed statement: after a
   * runtime error DuckDB turns COMMIT into a silent rollback, but after a binder error the
   * transaction stays live and COMMIT would keep the statements before it.
   */
  private async transaction<T>(work: (c: DuckDBConnection) => Promise<T>): Promise<T> {
    const c = this.connection;
    await c.run('BEGIN TRANSACTION');
    try {
      const result = await work(c);
      await c.run('COMMIT');
      return result;
    } catch (e: unknown) {
      await c.run('ROLLBACK').catch((rollbackError: unknown) => {
        // Expected when COMMIT itself failed (the transaction is already gone).
        this.logger.debug('rollback after a failed transaction failed', { error: messageOf(rollbackError) });
      });
      throw e;
    }
  }

  private async tableExists(table: string): Promise<boolean> {
    const reader = await this.connection.runAndReadAll(
      'SELECT 1 FROM duckdb_tables() WHERE NOT temporary AND schema_name = current_schema() AND lower(table_name) = lower($1)',
      [table],
    );
    return reader.currentRowCount > 0;
  }

  private async ensureTable<R>(table: string, columns: readonly ColumnSpec<R>[]): Promise<void> {
    if (this.ensured.has(table.toLowerCase())) return;
    await this.connection.run(createTableSql(table, columns));
    this.ensured.add(table.toLowerCase());
  }

  private async ensureChangesTable(table: string): Promise<void> {
    const changes = `${table}_changes`;
    if (this.ensured.has(changes.toLowerCase())) return;
    await this.connection.run(createTableSql(changes, CHANGE_COLUMNS));
    // Replaced on every first use in a process, so a changed definition reaches old files.
    await this.connection.run(currentViewSql(table));
    this.ensured.add(changes.toLowerCase());
  }

  /**
   * Appends through DuckDB's appender (about ten times faster than a multi-row INSERT for 500
   * change rows) inside a transaction, so a failure at any row leaves nothing behind. The
   * appender does not validate JSON columns, so every value is checked here first.
   * https://duckdb.org/docs/stable/data/appender
   */
  private async appendRows<R>(
    table: string,
    columns: readonly ColumnSpec<R>[],
    rows: readonly R[],
    describe: (row: R) => string,
  ): Promise<void> {
    await this.transaction(async (c) => {
      const appender = await c.createAppender(table);
      try {
        rows.forEach((row, index) => {
          for (const column of columns)
            appendCell(appender, column, row, () => `${table} row ${index} (${describe(row)})`);
          appender.endRow();
        });
        appender.flushSync();
      } catch (e: unknown) {
        try {
          // Drop the half-built row so closing does not try to flush it.
          appender.clear();
        } catch {
          // The rollback discards whatever the appender still holds.
        }
        throw e;
      } finally {
        appender.closeSync();
      }
    });
  }

  /** Adds the stage's new columns to `table` and widens columns whose type no longer fits. */
  private async alignColumns(c: DuckDBConnection, table: string, stage: string): Promise<void> {
    const target = await describeColumns(c, `SELECT * FROM ${ident(table)}`);
    const unified = await describeColumns(
      c,
      `SELECT * FROM (SELECT * FROM ${ident(table)} LIMIT 0) UNION ALL BY NAME (SELECT * FROM ${ident(stage)} LIMIT 0)`,
    );
    for (const [name, { column, type }] of unified) {
      const current = target.get(name);
      if (current === undefined) {
        await c.run(`ALTER TABLE ${ident(table)} ADD COLUMN ${ident(column)} ${type}`);
        this.logger.info('reference table column added', { table, column, type });
      } else if (current.type !== type) {
        await c.run(`ALTER TABLE ${ident(table)} ALTER COLUMN ${ident(column)} TYPE ${type}`);
        this.logger.info('reference table column widened', { table, column, from: current.type, to: type });
      }
    }
  }
}

/** Files open in this process (absolute paths); see `open`. */
const openFiles = new Set<string>();

const REJECTED_TABLE = '_rejected';
const RUNS_TABLE = '_runs';
const MERGE_STAGE_TABLE = '_changefeed_merge_stage';
/** DuckDB's own default; raised per load to fit the longest record. */
const DEFAULT_MAX_JSON_OBJECT_BYTES = 16 * 1024 * 1024;

type ColumnKind = 'varchar' | 'json' | 'bigint' | 'integer' | 'timestamptz';

const SQL_TYPE: Readonly<Record<ColumnKind, string>> = {
  varchar: 'VARCHAR',
  json: 'JSON',
  bigint: 'BIGINT',
  integer: 'INTEGER',
  timestamptz: 'TIMESTAMPTZ',
};

/** One column of a table this adapter owns: its DDL and how a row supplies its value. */
interface ColumnSpec<R> {
  readonly name: string;
  readonly kind: ColumnKind;
  readonly nullable?: boolean;
  readonly value: (row: R) => unknown;
}

const CHANGE_COLUMNS: readonly ColumnSpec<ChangeRow>[] = [
  { name: 'event_id', kind: 'varchar', value: (r) => r.event_id },
  { name: 'event_type', kind: 'varchar', value: (r) => r.event_type },
  { name: 'source', kind: 'varchar', value: (r) => r.source },
  { name: 'entity_id', kind: 'varchar', value: (r) => r.entity_id },
  { name: 'version', kind: 'bigint', value: (r) => r.version },
  { name: 'data', kind: 'json', nullable: true, value: (r) => r.data },
  { name: 'event_time', kind: 'timestamptz', value: (r) => r.event_time },
  { name: 'publish_time', kind: 'timestamptz', value: (r) => r.publish_time },
  { name: 'ingested_at', kind: 'timestamptz', value: (r) => r.ingested_at },
  { name: 'delivery_attempt', kind: 'integer', nullable: true, value: (r) => r.delivery_attempt },
  { name: 'message_id', kind: 'varchar', value: (r) => r.message_id },
];

const REJECTED_COLUMNS: readonly ColumnSpec<RejectedRow>[] = [
  { name: 'message_id', kind: 'varchar', nullable: true, value: (r) => r.message_id },
  { name: 'subscription', kind: 'varchar', nullable: true, value: (r) => r.subscription },
  { name: 'reason', kind: 'varchar', value: (r) => r.reason },
  { name: 'payload', kind: 'varchar', value: (r) => r.payload },
  { name: 'received_at', kind: 'timestamptz', value: (r) => r.received_at },
];

const RUN_COLUMNS: readonly ColumnSpec<RunRecord>[] = [
  { name: 'run_id', kind: 'varchar', value: (r) => r.runId },
  { name: 'source', kind: 'varchar', value: (r) => r.source },
  { name: 'kind', kind: 'varchar', value: (r) => r.kind },
  { name: 'started_at', kind: 'timestamptz', value: (r) => r.startedAt },
  { name: 'ended_at', kind: 'timestamptz', value: (r) => r.endedAt },
  { name: 'rows_read', kind: 'bigint', value: (r) => r.rowsRead },
  { name: 'rows_written', kind: 'bigint', value: (r) => r.rowsWritten },
  { name: 'status', kind: 'varchar', value: (r) => r.status },
  { name: 'error', kind: 'varchar', nullable: true, value: (r) => r.error },
  { name: 'details', kind: 'json', value: (r) => JSON.stringify(r.details) },
];

function createTableSql<R>(table: string, columns: readonly ColumnSpec<R>[]): string {
  const ddl = columns.map((col) => `${ident(col.name)} ${SQL_TYPE[col.kind]}`).join(', ');
  return `CREATE TABLE IF NOT EXISTS ${ident(table)} (${ddl})`;
}

/**
 * The latest state per entity: duplicates of an event id (redeliveries) count once; the latest
 * event is the highest version, then the latest event time (a re-detected, different change of
 * the same version), then the smallest event id so the choice is deterministic; entities whose
 * latest event is a deletion are left out.
 */
function currentViewSql(table: string): string {
  return `CREATE OR REPLACE VIEW ${ident(`${table}_current`)} AS
WITH unique_events AS (
  SELECT * FROM ${ident(`${table}_changes`)}
  QUALIFY row_number() OVER (PARTITION BY event_id ORDER BY ingested_at, message_id) = 1
), latest AS (
  SELECT * FROM unique_events
  QUALIFY row_number() OVER (PARTITION BY source, entity_id ORDER BY version DESC, event_time DESC, event_id) = 1
)
SELECT entity_id, version, data, event_id, event_time, source FROM latest WHERE event_type <> 'deleted'`;
}

function appendCell<R>(appender: DuckDBAppender, column: ColumnSpec<R>, row: R, where: () => string): void {
  const value = column.value(row);
  const invalid = (expected: string): AppError =>
    new AppError('WAREHOUSE.INVALID_ROW', `${where()}: ${column.name} must be ${expected}`, {
      retryable: false,
      details: { column: column.name },
    });
  if (value === null || value === undefined) {
    if (column.nullable !== true) throw invalid('set');
    appender.appendNull();
    return;
  }
  switch (column.kind) {
    case 'varchar':
      if (typeof value !== 'string') throw invalid('a string');
      appender.appendVarchar(value);
      return;
    case 'json':
      if (typeof value !== 'string' || !isJsonText(value)) throw invalid('JSON text');
      appender.appendVarchar(value);
      return;
    case 'bigint':
      if (typeof value !== 'number' || !Number.isSafeInteger(value)) throw invalid('an integer');
      appender.appendBigInt(BigInt(value));
      return;
    case 'integer':
      if (typeof value !== 'number' || !Number.isInteger(value) || Math.abs(value) > 2 ** 31 - 1) {
        throw invalid('a 32-bit integer');
      }
      appender.appendInteger(value);
      return;
    case 'timestamptz':
      if (!(value instanceof Date) || Number.isNaN(value.getTime())) throw invalid('a valid Date');
      appender.appendTimestampTZ(timestampTZValue(BigInt(value.getTime()) * 1000n));
      return;
  }
}

function isJsonText(text: string): boolean {
  try {
    JSON.parse(text);
    return true;
  } catch {
    return false;
  }
}

/** Quotes an identifier. Names are validated by the config schema; quoting keeps odd ones safe. */
function ident(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

async function describeColumns(
  c: DuckDBConnection,
  select: string,
): Promise<Map<string, { readonly column: string; readonly type: string }>> {
  const reader = await c.runAndReadAll(`SELECT column_name, column_type FROM (DESCRIBE ${select})`);
  const columns = new Map<string, { column: string; type: string }>();
  for (const [column, type] of reader.getRows()) {
    // DuckDB matches column names case-insensitively.
    columns.set(String(column).toLowerCase(), { column: String(column), type: String(type) });
  }
  return columns;
}

interface NdjsonFile {
  /** The private temp directory holding the file; removed after the load. */
  readonly dir: string;
  readonly path: string;
  /** Passed to read_json, which otherwise refuses records above 16 MiB. */
  readonly maxObjectBytes: number;
  /** Whether any record has its own `_loaded_at`, which the load time replaces. */
  readonly hasLoadedAt: boolean;
}

/**
 * read_json settings: one record per line; every record is sampled so a key seen only in the
 * last record still gets a column; objects are never guessed to be MAPs (DuckDB does that for
 * wide or sparse objects, and then refuses to read them as records).
 */
const READ_JSON =
  "read_json($1, format = 'newline_delimited', records = true, sample_size = -1, map_inference_threshold = -1, maximum_object_size = $2)";

function withLoadedAt(file: NdjsonFile): string {
  const loadedAt = ident(LOADED_AT_COLUMN);
  return file.hasLoadedAt ? `* REPLACE (now() AS ${loadedAt})` : `*, now() AS ${loadedAt}`;
}

/** Writes `records` as NDJSON to a private temp directory for read_json; removes it on failure. */
async function writeNdjsonFile(records: readonly JsonRecord[]): Promise<NdjsonFile> {
  const dir = await mkdtemp(path.join(tmpdir(), 'changefeed-load-'));
  try {
    const filePath = path.join(dir, 'records.ndjson');
    const handle = await open(filePath, 'wx', 0o600);
    let longest = 0;
    let hasLoadedAt = false;
    try {
      let chunk: string[] = [];
      let chunkChars = 0;
      for (const record of records) {
        const line = JSON.stringify(record);
        longest = Math.max(longest, Buffer.byteLength(line));
        hasLoadedAt ||= Object.hasOwn(record, LOADED_AT_COLUMN);
        chunk.push(line);
        chunkChars += line.length + 1;
        if (chunkChars >= NDJSON_CHUNK_CHARS) {
          await handle.write(`${chunk.join('\n')}\n`);
          chunk = [];
          chunkChars = 0;
        }
      }
      if (chunk.length > 0) await handle.write(`${chunk.join('\n')}\n`);
    } finally {
      await handle.close();
    }
    return { dir, path: filePath, maxObjectBytes: Math.max(DEFAULT_MAX_JSON_OBJECT_BYTES, longest + 1), hasLoadedAt };
  } catch (e: unknown) {
    await rm(dir, { recursive: true, force: true });
    throw e;
  }
}

/** Written in pieces of about this many characters, so a large load never builds one huge string. */
const NDJSON_CHUNK_CHARS = 1024 * 1024;

/**
 * The message of anything thrown. Not `errorMessage`: errors from the native binding fail
 * `instanceof Error` when the caller runs in another realm (jest's VM context, for one).
 */
function messageOf(e: unknown): string {
  if (typeof e === 'object' && e !== null && 'message' in e && typeof e.message === 'string') return e.message;
  return String(e);
}

/** The error class DuckDB puts in front of its messages, e.g. `Conversion Error: ...`. */
function duckDbErrorType(e: unknown): string | undefined {
  const match = /^([A-Za-z][A-Za-z ]*?) Error: /.exec(messageOf(e));
  return match?.[1];
}

/**
 * Errors that the same statement with the same data would hit again. Everything else (I/O,
 * out of memory, transaction conflicts, interrupts, unknown) may pass on a retry.
 * https://duckdb.org/docs/stable/dev/internal_errors (the error types)
 */
const PERMANENT_ERROR_TYPES = new Set([
  'Binder',
  'Catalog',
  'Constraint',
  'Conversion',
  'Dependency',
  'Invalid',
  'Invalid Input',
  'Invalid type',
  'Mismatch Type',
  'Not implemented',
  'Out of Range',
  'Parser',
  'Permission',
  'Syntax',
]);

function warehouseError(code: string, what: string, e: unknown): AppError {
  if (e instanceof AppError) return e;
  const type = duckDbErrorType(e);
  const retryable = type === undefined || !PERMANENT_ERROR_TYPES.has(type);
  const firstLine = messageOf(e).split('\n')[0] ?? '';
  return new AppError(code, `Warehouse: ${what} failed: ${firstLine}`, {
    retryable,
    cause: e,
    details: { duckDbErrorType: type ?? null },
  });
}

function openError(file: string, e: unknown): AppError {
  const message = messageOf(e);
  if (message.includes('Could not set lock')) {
    const pid = /PID (\d+)/.exec(message)?.[1];
    return new AppError(
      'WAREHOUSE.LOCKED',
      `Cannot open the warehouse "${file}": another process${pid === undefined ? '' : ` (PID ${pid})`} holds it, ` +
        'probably another changefeed process. DuckDB allows one process per file, even for reading: stop that ' +
        'process, or send queries to it (`changefeed query` does so while `changefeed run` is running).',
      { retryable: true, cause: e, details: { file, pid: pid ?? null } },
    );
  }
  if (message.includes('database does not exist')) {
    return new AppError('WAREHOUSE.NOT_FOUND', `The warehouse "${file}" does not exist yet: nothing was loaded`, {
      retryable: false,
      cause: e,
      details: { file },
    });
  }
  return warehouseError('WAREHOUSE.OPEN_FAILED', `opening "${file}"`, e);
}

function safeNumber(value: bigint): number | string {
  return value >= BigInt(Number.MIN_SAFE_INTEGER) && value <= BigInt(Number.MAX_SAFE_INTEGER)
    ? Number(value)
    : value.toString();
}

/** ISO 8601 in UTC; infinities and dates beyond JavaScript's range keep DuckDB's text. */
function isoTimestamp(value: DuckDBValue, toDate: (value: DuckDBValue) => Date): string {
  try {
    return toDate(value).toISOString();
  } catch {
    return String(value);
  }
}

/** The double nearest a DECIMAL is exact up to 15 significant digits; wider ones stay text. */
const MAX_EXACT_DECIMAL_DIGITS = 15;

const jsonFriendly: DuckDBValueConverter<Json> = (value, type, self) => {
  if (value === null) return null;
  switch (type.typeId) {
    case DuckDBTypeId.BIGINT:
    case DuckDBTypeId.UBIGINT:
    case DuckDBTypeId.HUGEINT:
    case DuckDBTypeId.UHUGEINT:
      return typeof value === 'bigint' ? safeNumber(value) : JsonDuckDBValueConverter(value, type, self);
    case DuckDBTypeId.TIMESTAMP_TZ:
      return isoTimestamp(value, dateFromTimestampTZValue);
    case DuckDBTypeId.TIMESTAMP:
      return isoTimestamp(value, dateFromTimestampValue);
    case DuckDBTypeId.TIMESTAMP_S:
      return isoTimestamp(value, dateFromTimestampSecondsValue);
    case DuckDBTypeId.TIMESTAMP_MS:
      return isoTimestamp(value, dateFromTimestampMillisecondsValue);
    case DuckDBTypeId.TIMESTAMP_NS:
      return isoTimestamp(value, dateFromTimestampNanosecondsValue);
    case DuckDBTypeId.DECIMAL:
      if (value instanceof DuckDBDecimalValue && type.width <= MAX_EXACT_DECIMAL_DIGITS) {
        return value.toDouble();
      }
      return JsonDuckDBValueConverter(value, type, self);
    case DuckDBTypeId.VARCHAR:
      if (type.alias === 'JSON' && typeof value === 'string') {
        try {
          return JSON.parse(value) as Json;
        } catch {
          return value;
        }
      }
      return value as string;
    default:
      return JsonDuckDBValueConverter(value, type, self);
  }
};
