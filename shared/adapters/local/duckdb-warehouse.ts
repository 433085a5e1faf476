import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { DuckDBInstance, type DuckDBConnection } from '@duckdb/node-api';
import { lastPerKey, parseKeyPath } from '../../change';
import { readSteps } from '../../source/dot-path';
import { AppError, errorMessage } from '../../errors';
import { createSilentLogger, type Logger } from '../../log';
import type { ChangeRow, JsonRecord, RejectedRow, RunRecord, Warehouse } from '../../ports';
import {
  CHANGES_TABLE,
  LOADED_AT_COLUMN,
  REJECTED_TABLE,
  RUNS_TABLE,
  TABLE_NAMES,
  changesTableName,
  type TableSpec,
} from '../../warehouse';
import { appendChangesAndCurrent, createCurrentStage, ensureCurrentTable, historyViewSql } from './duckdb-current';
import { openError, warehouseError } from './duckdb-errors';
import { READ_JSON, withLoadedAt, writeNdjsonFile, type NdjsonFile } from './duckdb-ndjson-staging';
import { rowObjects } from './duckdb-query-values';
import { appendCell, createTableSql, describeColumns, ident } from './duckdb-tables';
import { runUserQuery, type UserQueryOptions } from './duckdb-user-query';

export interface DuckDbWarehouseOptions {
  /** Open for queries only; every write rejects with `WAREHOUSE.READ_ONLY`. */
  readonly readOnly?: boolean;
  readonly logger?: Logger;
  /**
   * WAL size that triggers a checkpoint at commit (DuckDB's `checkpoint_threshold`). DuckDB's
   * 16 MiB default checkpoints every second batch of 10,000 change rows, and each checkpoint
   * rewrites the `_current` row groups the batch touched: half of the append's time, measured by
   * `npm run bench`. At 256 MiB a commit only writes the WAL most of the time; the cost is a
   * longer WAL replay (a few seconds) when the process restarts after a crash.
   */
  readonly checkpointThreshold?: string;
  /**
   * DuckDB's `memory_limit`: its buffer pool, beyond which it evicts to the file or to temporary
   * files. DuckDB's default is 80% of the machine's RAM, and in a long cold start it keeps what it
   * wrote cached up to that: a local cold start of 300,000 entities peaked at 1 GB RSS with the
   * default and at about 600 MB with 128 MiB (1,000,000: 930 MB at 256 MiB, 780 MB at 128 MiB),
   * with the same delivery rate (`npm run bench`, "memory" and "delivery"). The default is 1 GiB
   * all the same: one 100 MiB record (`sources[].maxRecordBytes`) needs a 512 MiB allocation on
   * top of the rows held (768 MiB was the least that stored one), so the cap trades a higher
   * peak in long cold starts for records up to the documented limit landing at all.
   */
  readonly memoryLimit?: string;
}

export const DEFAULT_CHECKPOINT_THRESHOLD = '256MiB';
export const DEFAULT_MEMORY_LIMIT = '1GiB';

/**
 * Confines the whole instance (every connection, so a user's query too) to its database file,
 * its WAL and temp files, and `stagingDir`: DuckDB then refuses read_csv('/etc/passwd'), COPY TO
 * elsewhere, ATTACH and INSTALL whatever SQL gets through, and `lock_configuration` refuses any
 * later SET. Settings are per database, which is why this sits here and not in the user query.
 * https://duckdb.org/docs/stable/operations_manual/securing_duckdb/overview
 */
async function confineFileAccess(c: DuckDBConnection, stagingDir: string): Promise<void> {
  await c.run(`SET allowed_directories = ['${`${stagingDir}${path.sep}`.replaceAll("'", "''")}']`);
  await c.run('SET enable_external_access = false');
  await c.run('SET lock_configuration = true');
}

/** The column reference tables get with the time of the load that wrote each row. */
export { LOADED_AT_COLUMN };

/**
 * The local stand-in for BigQuery: one DuckDB file holding `<source>_changes` (append-only, one
 * row per event), the maintained `<source>_current` table and the `<source>_history` view, `_rejected`, `_runs` and the batch sources
 * reference tables.
 *
 * DuckDB allows one read-write process per file, and a connection runs one statement at a time;
 * every operation is therefore queued on the single connection, so a group commit, a batch load,
 * a run record and a user's query never interleave inside each other's transactions.
 * https://duckdb.org/docs/stable/connect/concurrency
 */
export class DuckDbWarehouse implements Warehouse {
  /** Tables (lower-cased, as DuckDB compares names) known to exist, so appends skip the DDL. */
  private readonly ensured = new Set<string>();
  private queue: Promise<void> = Promise.resolve();
  /** User queries running on their own connections: close() interrupts and awaits them. */
  private readonly userQueries = new Map<Promise<unknown>, AbortController>();
  private closed = false;
  private closing: Promise<void> | undefined;

  private constructor(
    private readonly file: string,
    private readonly openKey: string | undefined,
    private readonly instance: DuckDBInstance,
    private readonly connection: DuckDBConnection,
    private readonly readOnly: boolean,
    /** Where reference loads stage their NDJSON: the only directory DuckDB may read or write. */
    private readonly stagingDir: string | undefined,
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
    let stagingDir: string | undefined;
    try {
      instance = await DuckDBInstance.create(
        file,
        readOnly
          ? // Only `changefeed query` opens it read-only: DuckDB itself then refuses files,
            // ATTACH, extensions and any later SET, whatever the SQL.
            { access_mode: 'READ_ONLY', enable_external_access: 'false', lock_configuration: 'true' }
          : {
              checkpoint_threshold: options.checkpointThreshold ?? DEFAULT_CHECKPOINT_THRESHOLD,
              memory_limit: options.memoryLimit ?? DEFAULT_MEMORY_LIMIT,
            },
      );
      connection = await instance.connect();
      if (!readOnly) {
        stagingDir = await mkdtemp(path.join(tmpdir(), 'changefeed-warehouse-'));
        await confineFileAccess(connection, stagingDir);
        await createCurrentStage(connection);
      }
    } catch (e: unknown) {
      instance?.closeSync();
      if (stagingDir !== undefined) await rm(stagingDir, { recursive: true, force: true });
      if (openKey !== undefined) openFiles.delete(openKey);
      throw openError(file, e);
    }
    logger.debug('warehouse open', { file, readOnly });
    return new DuckDbWarehouse(file, openKey, instance, connection, readOnly, stagingDir, logger);
  }

  /**
   * Appends all `rows` in one transaction: every row is written or none is. A row that can never
   * be stored (e.g. `data` that is not JSON, a fractional version) rejects the whole call with
   * `WAREHOUSE.INVALID_ROW` (not retryable), whose message names the row and the column.
   */
  appendChanges(table: string, rows: readonly ChangeRow[]): Promise<void> {
    const changes = changesTableName(table);
    return this.write(`appending ${rows.length} rows to "${changes}"`, async () => {
      if (rows.length === 0) return;
      await this.ensureChangesTable(table);
      await this.transaction((c) =>
        appendChangesAndCurrent(c, table, rows, (i) => `${changes} row ${i} (event ${rows[i]?.event_id ?? '?'})`),
      );
    });
  }

  appendRejected(rows: readonly RejectedRow[]): Promise<void> {
    const rejected = TABLE_NAMES.rejected;
    return this.write(`appending ${rows.length} rows to "${rejected}"`, async () => {
      if (rows.length === 0) return;
      await this.ensureTable(rejected, REJECTED_TABLE);
      await this.appendRows(rejected, REJECTED_TABLE, rows, (row) => `message ${row.message_id ?? '?'}`);
    });
  }

  recordRun(run: RunRecord): Promise<void> {
    return this.write(`recording run ${run.runId}`, async () => {
      await this.ensureTable(TABLE_NAMES.runs, RUNS_TABLE);
      await this.appendRows(TABLE_NAMES.runs, RUNS_TABLE, [run], (r) => `run ${r.runId}`);
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
        // Records without a key are appended, as the port says. When none of them has one, the
        // stage has no key column to compare and the DELETE would not bind: nothing to replace.
        if (unique.some((record) => hasKey(record, keyPath))) {
          await c.run(`DELETE FROM ${ident(table)} AS t WHERE ${key('t')} IN (SELECT ${key('s')} FROM ${stage} AS s)`);
        }
        await c.run(`INSERT INTO ${ident(table)} BY NAME SELECT *, now() AS ${ident(LOADED_AT_COLUMN)} FROM ${stage}`);
        await c.run(`DROP TABLE ${stage}`);
      });
      this.logger.debug('reference table merged', { table, rows: unique.length, durationMs: Date.now() - startedMs });
      return unique.length;
    });
  }

  /**
   * Runs a user's SQL (`changefeed query`) on a connection of its own, outside the queue the
   * pipeline's writes share: only one statement that reads, no file access, interrupted after
   * `timeoutMs` (`QUERY.REFUSED`, `QUERY.TIMEOUT`); see duckdb-user-query.ts. Rows as `query`.
   */
  userQuery(sql: string, options: UserQueryOptions = {}): Promise<Record<string, unknown>[]> {
    if (this.closed || this.closing !== undefined) {
      return Promise.reject(
        new AppError('WAREHOUSE.CLOSED', `The warehouse "${this.file}" is closed`, { retryable: false }),
      );
    }
    const stop = new AbortController();
    const signal = options.signal === undefined ? stop.signal : AbortSignal.any([options.signal, stop.signal]);
    const running = runUserQuery(this.instance, sql, { ...options, signal });
    const settled = running.then(
      () => undefined,
      () => undefined,
    );
    this.userQueries.set(settled, stop);
    void settled.then(() => this.userQueries.delete(settled));
    return running;
  }

  /**
   * Runs one SQL statement from changefeed's own code (tests, benchmarks, migrations) and returns
   * its rows as JSON-friendly objects: BIGINTs as numbers when exactly representable (strings
   * otherwise), timestamps as ISO 8601 strings in UTC to the millisecond, JSON columns parsed,
   * lists and structs as arrays and objects. The statement may also write; it runs between, never
   * inside, other writes. Never pass it a user's SQL: that is `userQuery`.
   */
  query(sql: string): Promise<Record<string, unknown>[]> {
    return this.exclusive(async () => {
      // The statement may create or drop anything, so what was ensured is no longer known.
      this.ensured.clear();
      try {
        const reader = await this.connection.runAndReadAll(sql);
        return rowObjects(reader);
      } catch (e: unknown) {
        throw warehouseError('WAREHOUSE.QUERY_FAILED', 'query', e);
      }
    });
  }

  /** Waits for queued operations, then closes; idempotent. DuckDB checkpoints the WAL on close. */
  close(): Promise<void> {
    this.closing ??= this.exclusive(async () => {
      this.closed = true;
      // A user's query must not hold the instance open, nor run on a closed one.
      for (const stop of this.userQueries.values()) stop.abort();
      await Promise.all(this.userQueries.keys());
      if (this.openKey !== undefined) openFiles.delete(this.openKey);
      this.connection.closeSync();
      this.instance.closeSync();
      this.logger.debug('warehouse closed', { file: this.file });
      if (this.stagingDir === undefined) return;
      await rm(this.stagingDir, { recursive: true, force: true }).catch((e: unknown) => {
        this.logger.warn('staging directory not removed', { dir: this.stagingDir, error: errorMessage(e) });
      });
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
    const prepared = writeNdjsonFile(records, this.stagingDir);
    return this.write(what, async () => work(await prepared)).finally(() =>
      prepared.then(
        (file) =>
          rm(file.dir, { recursive: true, force: true }).catch((e: unknown) => {
            this.logger.warn('temp load file not removed', { dir: file.dir, error: errorMessage(e) });
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
        this.logger.debug('rollback after a failed transaction failed', { error: errorMessage(rollbackError) });
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

  private async ensureTable<R>(table: string, spec: TableSpec<R>): Promise<void> {
    if (this.ensured.has(table.toLowerCase())) return;
    await this.connection.run(createTableSql(table, spec));
    this.ensured.add(table.toLowerCase());
  }

  /**
   * `<table>_changes`, the maintained `<table>_current` (built from the history once, when an
   * older data directory has it as a view) and the `<table>_history` view, in one transaction.
   */
  private async ensureChangesTable(table: string): Promise<void> {
    const changes = changesTableName(table);
    if (this.ensured.has(changes.toLowerCase())) return;
    const startedMs = Date.now();
    const outcome = await this.transaction(async (c) => {
      await c.run(createTableSql(changes, CHANGES_TABLE));
      const result = await ensureCurrentTable(c, table);
      // Replaced on every first use in a process, so a changed definition reaches old files.
      await c.run(historyViewSql(table));
      return result;
    });
    if (outcome !== 'ready') {
      this.logger.info(outcome === 'migrated' ? 'current view migrated to a table' : 'current table created', {
        table,
        durationMs: Date.now() - startedMs,
      });
    }
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
    spec: TableSpec<R>,
    rows: readonly R[],
    describe: (row: R) => string,
    /** Runs in the same transaction after the rows are appended (the `_current` upsert). */
    then?: (c: DuckDBConnection) => Promise<void>,
  ): Promise<void> {
    await this.transaction(async (c) => {
      const appender = await c.createAppender(table);
      try {
        rows.forEach((row, index) => {
          for (const column of spec.columns)
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
      await then?.(c);
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
/** Files open in this process (absolute paths); see `open`. */
const openFiles = new Set<string>();

const MERGE_STAGE_TABLE = '_changefeed_merge_stage';

/** Whether `record` has a value at the merge key (null counts as none, as in `lastPerKey`). */
function hasKey(record: JsonRecord, keyPath: readonly string[]): boolean {
  const key = readSteps(record, keyPath);
  return key !== undefined && key !== null;
}
