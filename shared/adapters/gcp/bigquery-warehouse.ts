import { randomUUID } from 'node:crypto';
import type { BigQuery, Dataset, TableField, TableMetadata } from '@google-cloud/bigquery';
import type { managedwriter } from '@google-cloud/bigquery-storage';
import { AppError } from '../../errors';
import { createSilentLogger, type Logger } from '../../log';
import {
  systemClock,
  type ChangeRow,
  type Clock,
  type JsonRecord,
  type RejectedRow,
  type RunRecord,
  type Warehouse,
} from '../../ports';
import { CHANGES_TABLE, REJECTED_TABLE, RUNS_TABLE, TABLE_NAMES, type Column } from '../../warehouse';
import { DEFAULT_CURRENT_OPTIONS, type CurrentOptions } from './bigquery-current-options';
import { DEFAULT_MAX_APPEND_REQUEST_BYTES, DefaultStreamAppender } from './bigquery-default-stream';
import { bigQueryError, describeFailure } from './bigquery-errors';
import { loadNdjson, ndjsonPieces, writerRowLine } from './bigquery-ndjson-load';
import { MAX_LOAD_JOB_ROW_BYTES, routeBySize, type RoutedRows } from './bigquery-oversize-rows';
import {
  alignWithTarget,
  alterStatements,
  fieldsOf,
  inferColumns,
  mergeSql,
  ndjsonChunks,
} from './bigquery-reference-schema';
import { lastPerKey, parseKeyPath } from '../../change';
import { plainRows } from './bigquery-rows';
import { changeSequenceNumber, changeType } from './bigquery-change-sequence';
import { CompactionScheduler } from './bigquery-compaction-scheduler';
import { compactionsTableMetadata, deletedTableMetadata, pendingTableMetadata } from './bigquery-compaction-tables';
import {
  compactionStatements,
  currentRefs,
  currentTableNames,
  historyViewSql,
  inTransaction,
  type CurrentRefs,
} from './bigquery-current-sql';
import { MergeCompactor, type CompactionPlan } from './bigquery-merge-compactor';
import {
  currentFields,
  currentTableMetadata,
  currentWriterRow,
  intervalLiteral,
  tableFields,
  tableMetadata,
  tableRef,
  writerRow,
  type WriterRow,
} from './bigquery-tables';

export interface BigQueryWarehouseOptions {
  readonly projectId: string;
  /** The dataset holding every table; created (in `location`) on first use when missing. */
  readonly dataset: string;
  /** Where the dataset lives and jobs run, e.g. `US` or `europe-west1`. */
  readonly location: string;
  readonly logger?: Logger;
  /** Estimated bytes per AppendRows request; below the API's 10 MB limit. A larger change row goes by a load job. */
  readonly maxAppendRequestBytes?: number;
  /** The largest change row stored at all (by a load job): `MAX_LOAD_JOB_ROW_BYTES`, BigQuery's limit. */
  readonly maxLoadRowBytes?: number;
  /** How long a staging table outlives a process that died before dropping it. */
  readonly stagingTableTtlMs?: number;
  /** Per stream table, how its `_current` is maintained; absent: `DEFAULT_CURRENT_OPTIONS`. */
  readonly current?: (table: string) => CurrentOptions;
  /** Schedules merge-mode compactions. */
  readonly clock?: Clock;
}

/** Staging tables expire by themselves after this long if nothing dropped them. */
const DEFAULT_STAGING_TABLE_TTL_MS = 24 * 60 * 60 * 1000;
const STAGING_TABLE_PREFIX = '_changefeed_stage_';

/**
 * The warehouse on Google Cloud: one BigQuery dataset holding `<source>_changes` (append-only,
 * one row per event), `<source>_current` (a table of the latest version of each live entity),
 * the `<source>_history` view, `_rejected`, `_runs` and the batch sources' reference tables:
 * the tables of `shared/warehouse/tables.ts`, as the DuckDB warehouse has them.
 *
 * Rows are appended through the Storage Write API's default stream and are durable when a call
 * resolves; reference tables are written through load jobs into a staging table, then one
 * statement (CREATE OR REPLACE TABLE ... AS SELECT, or MERGE) applies them atomically. Tables and
 * views are created on first use.
 *
 * `<source>_current`, per source (`CurrentOptions`):
 * - `cdc`: each appended change is also written to it with `_CHANGE_TYPE` (UPSERT, or DELETE for
 *   a deletion) and a `_CHANGE_SEQUENCE_NUMBER` from version, event time and event id, and
 *   BigQuery applies them in that order, so an older event never replaces a newer one;
 * - `merge`: each appended change is also written to a pending table, and a version-guarded
 *   MERGE compaction (`MergeCompactor`) applies them `compactEveryMs` after the append.
 * An existing `_current` view (from before the table) is replaced by the table, built once from
 * the history.
 *
 * Takes ownership of the clients: `close()` closes the Storage Write client.
 * https://cloud.google.com/bigquery/docs/write-api
 */
export class BigQueryWarehouse implements Warehouse {
  private readonly projectId: string;
  private readonly datasetId: string;
  private readonly location: string;
  private readonly logger: Logger;
  private readonly stagingTableTtlMs: number;
  private readonly appender: DefaultStreamAppender;
  private readonly maxAppendRequestBytes: number;
  private readonly maxLoadRowBytes: number;
  private readonly currentFor: (table: string) => CurrentOptions;
  private readonly compactor: MergeCompactor;
  private readonly scheduler: CompactionScheduler;
  /** Tables (and views) known to exist, by name; a failed creation is forgotten so the next call retries. */
  private readonly ensured = new Map<string, Promise<void>>();
  private datasetReady: Promise<void> | undefined;
  private readonly inFlight = new Set<Promise<unknown>>();
  private closed = false;
  private closing: Promise<void> | undefined;

  constructor(
    private readonly bigquery: BigQuery,
    private readonly writeClient: managedwriter.WriterClient,
    options: BigQueryWarehouseOptions,
  ) {
    this.projectId = options.projectId;
    this.datasetId = options.dataset;
    this.location = options.location;
    this.logger = options.logger ?? createSilentLogger();
    this.stagingTableTtlMs = options.stagingTableTtlMs ?? DEFAULT_STAGING_TABLE_TTL_MS;
    this.maxAppendRequestBytes = options.maxAppendRequestBytes ?? DEFAULT_MAX_APPEND_REQUEST_BYTES;
    this.maxLoadRowBytes = options.maxLoadRowBytes ?? MAX_LOAD_JOB_ROW_BYTES;
    this.appender = new DefaultStreamAppender(
      writeClient,
      this.logger,
      this.maxAppendRequestBytes,
      options.clock ?? systemClock,
    );
    this.currentFor = options.current ?? (() => DEFAULT_CURRENT_OPTIONS);
    const clock = options.clock ?? systemClock;
    this.compactor = new MergeCompactor(
      async (sql) => {
        const { rows, fields } = await this.runQuery(sql);
        return plainRows(rows, fields);
      },
      (table) => this.currentRefs(table),
      clock,
      this.logger,
    );
    this.scheduler = new CompactionScheduler(
      (table) => this.compactor.run(table),
      (table) => this.currentFor(table).compactEveryMs,
      clock,
      this.logger,
    );
  }

  /**
   * Appends `rows` to `<table>_changes`, creating it, `<table>_current` and `<table>_history` on
   * first use, then hands them to `_current`'s maintenance (see the class). Every row is checked
   * before anything is sent: a row that can never be stored rejects the call with
   * `WAREHOUSE.INVALID_ROW` (or `WAREHOUSE.ROW_TOO_LARGE` above `maxLoadRowBytes`), not
   * retryable. More rows than fit one request are sent in several; if a later one fails, the
   * earlier ones stay appended, and the retry's duplicates count once
   * (`CURRENT_STATE.duplicateFirst`). The second write (CDC rows, or pending rows) follows the
   * first; if it fails, the call fails and the redelivered batch writes both again.
   *
   * A row larger than one AppendRows request (a record the claim check brought, up to 100 MiB)
   * goes to `_changes`, and in merge mode to the pending table, by one load job per table per
   * call, next to the Storage Write requests of the others (see `writeChanges`). In cdc mode
   * `_current` is written only by change data capture: BigQuery does not run mutating DML (a
   * MERGE) on a table CDC writes to, and a CDC row travels in one AppendRows request. So such a
   * row's CDC row carries its key, version, event id, event time and sequence number with `data`
   * NULL: `_current` orders it like any other event (an older one never replaces it, a newer one
   * does), and its record is in `_changes` (`event_id` joins them).
   * https://cloud.google.com/bigquery/docs/change-data-capture#limitations
   */
  appendChanges(table: string, rows: readonly ChangeRow[]): Promise<void> {
    const names = currentTableNames(table);
    return this.track(`appending ${rows.length} rows to "${names.changes}"`, 'WAREHOUSE.WRITE_FAILED', async () => {
      if (rows.length === 0) return;
      const current = this.currentFor(table);
      const where = (i: number): string => rowWhere(names.changes, i, rows[i], (r) => `event ${r.event_id}`);
      // Checked and measured before any table is even created: a bad row costs no API call.
      const changeRows = rows.map((row, i) => writerRow(CHANGES_TABLE.columns, row, () => where(i)));
      const routed = routeBySize(changeRows, this.maxAppendRequestBytes, this.maxLoadRowBytes, where);
      const loaded = new Set(routed.loaded);
      const cdcRows = current.mode === 'cdc' ? rows.map((row, i) => cdcRow(row, () => where(i), loaded.has(i))) : [];
      await this.ensureStreamTables(table, current);
      await this.writeChanges(names.changes, changeRows, routed, where);
      if (current.mode === 'cdc') {
        if (loaded.size > 0) {
          this.logger.warn('_current gets rows too large for change data capture without their data', {
            table: names.current,
            events: routed.loaded.map((i) => rows[i]?.event_id),
          });
        }
        await this.appender.append(
          { ...this.target(names.current, currentFields()), changeCapture: true },
          cdcRows,
          where,
        );
        return;
      }
      await this.writeChanges(names.pending, changeRows, routed, where);
      if (current.compactEveryMs === 0) await this.compactor.run(table);
      else this.scheduler.appended(table);
    });
  }

  /**
   * Merge mode: applies the changes pending for `<table>_current` now (the loader does it on
   * its schedule; tests and operators call this to not wait). `full`: rebuild from all of
   * `_changes`, e.g. after the pending rows of a stopped loader expired.
   */
  compactCurrent(table: string, options: { readonly full?: boolean } = {}): Promise<void> {
    return this.track(`compacting "${table}_current"`, 'WAREHOUSE.WRITE_FAILED', async () => {
      await this.ensureStreamTables(table, { ...this.currentFor(table), mode: 'merge' });
      await this.compactor.run(table, options);
    });
  }

  /** Merge mode: the statements the next compaction of `table` would run, in order, without running them. */
  planCompaction(table: string): Promise<CompactionPlan> {
    return this.track(`planning the compaction of "${table}_current"`, 'WAREHOUSE.QUERY_FAILED', async () => {
      await this.ensureStreamTables(table, { ...this.currentFor(table), mode: 'merge' });
      return this.compactor.plan(table);
    });
  }

  appendRejected(rows: readonly RejectedRow[]): Promise<void> {
    return this.track(
      `appending ${rows.length} rows to "${TABLE_NAMES.rejected}"`,
      'WAREHOUSE.WRITE_FAILED',
      async () => {
        if (rows.length === 0) return;
        await this.appendRows(
          TABLE_NAMES.rejected,
          REJECTED_TABLE.columns,
          rows,
          () => this.ensureTable(TABLE_NAMES.rejected, tableMetadata(REJECTED_TABLE)),
          (r) => `message ${r.message_id ?? '?'}`,
        );
      },
    );
  }

  recordRun(run: RunRecord): Promise<void> {
    return this.track(`recording run ${run.runId}`, 'WAREHOUSE.WRITE_FAILED', () =>
      this.appendRows(
        TABLE_NAMES.runs,
        RUNS_TABLE.columns,
        [run],
        () => this.ensureTable(TABLE_NAMES.runs, tableMetadata(RUNS_TABLE)),
        (r) => `run ${r.runId}`,
      ),
    );
  }

  /**
   * Replaces `table` with `records` atomically: the records are loaded into a staging table,
   * then one `CREATE OR REPLACE TABLE ... AS SELECT * FROM <staging>` swaps the contents and the
   * schema in a single statement (readers see the old or the new table). Not a load job with
   * WRITE_TRUNCATE straight into the table: that is atomic on BigQuery too, but the emulator
   * truncates and loads in two steps and keeps the old schema, so a changed schema fails there.
   * Columns are inferred from all records (see `inferColumns`), plus `_loaded_at`.
   * Empty `records` empty an existing table (keeping its columns) and create nothing otherwise.
   */
  replaceTable(table: string, records: readonly JsonRecord[]): Promise<number> {
    return this.track(`replacing "${table}" with ${records.length} records`, 'WAREHOUSE.WRITE_FAILED', async () => {
      await this.ensureDataset();
      const ref = this.ref(table);
      if (records.length === 0) {
        if (await this.tableMetadata(table)) await this.runStatement(`TRUNCATE TABLE ${ref}`);
        return 0;
      }
      const startedMs = Date.now();
      const fields = fieldsOf(inferColumns(records));
      await this.withStagingTable(table, fields, records, (stageRef) =>
        this.runStatement(`CREATE OR REPLACE TABLE ${ref} AS SELECT * FROM ${stageRef}`),
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
   * Upserts `records` by `keyField` atomically: they are loaded into a staging table, then one
   * MERGE updates the rows whose key matches and inserts the rest. Within one call the last
   * record with a given key wins; records without a key are inserted. The first call creates the
   * table as `replaceTable` does; later calls first add columns for new keys and widen columns
   * whose values no longer fit (see `alignWithTarget`). Those changes precede the MERGE as
   * statements of their own, each atomic and none changing a row's values, so readers never see
   * a half-merged table.
   */
  mergeRecords(table: string, records: readonly JsonRecord[], keyField: string): Promise<number> {
    const what = `merging ${records.length} records into "${table}" by ${keyField}`;
    return this.track(what, 'WAREHOUSE.WRITE_FAILED', async () => {
      const keyPath = parseKeyPath(keyField);
      if (records.length === 0) return 0;
      const unique = lastPerKey(records, keyPath);
      await this.ensureDataset();
      const startedMs = Date.now();
      const ref = this.ref(table);
      const columns = inferColumns(unique);
      const existing = await this.tableMetadata(table);
      if (existing === undefined) {
        await this.withStagingTable(table, fieldsOf(columns), unique, (stageRef) =>
          this.runStatement(`CREATE TABLE ${ref} AS SELECT * FROM ${stageRef}`),
        );
      } else {
        const aligned = alignWithTarget(columns, existing.schema?.fields ?? [], table);
        for (const statement of alterStatements(ref, aligned)) await this.runStatement(statement);
        if (aligned.add.length > 0 || aligned.widen.length > 0 || aligned.rewrite.length > 0) {
          this.logger.info('reference table columns changed', {
            table,
            added: aligned.add.map((f) => f.name),
            widened: [...aligned.widen, ...aligned.rewrite.map((r) => r.name)],
          });
        }
        await this.withStagingTable(table, aligned.stage, unique, (stageRef) =>
          this.runStatement(mergeSql(ref, stageRef, aligned, keyPath, table)),
        );
      }
      this.logger.debug('reference table merged', { table, rows: unique.length, durationMs: Date.now() - startedMs });
      return unique.length;
    });
  }

  /**
   * Runs one GoogleSQL statement with the warehouse's dataset as the default (so `carts_current`
   * needs no qualification) and returns its rows as plain objects (see `plainRows`).
   */
  query(sql: string): Promise<Record<string, unknown>[]> {
    return this.track('query', 'WAREHOUSE.QUERY_FAILED', async () => {
      // The statement may create or drop anything, so what was ensured is no longer known.
      this.ensured.clear();
      const { rows, fields } = await this.runQuery(sql);
      return plainRows(rows, fields);
    });
  }

  /** Waits for calls in flight, then closes the Storage Write connections and client; idempotent. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      this.closed = true;
      await Promise.allSettled([...this.inFlight]);
      // The last compactions, so that a loader scaled to zero leaves `_current` up to date.
      await this.scheduler.close();
      this.appender.close();
      this.writeClient.close();
      await this.writeClient.getClient().close();
      this.logger.debug('warehouse closed', { dataset: this.datasetId });
    })();
    return this.closing;
  }

  private track<T>(what: string, code: string, work: () => Promise<T>): Promise<T> {
    if (this.closed) {
      return Promise.reject(
        new AppError('WAREHOUSE.CLOSED', `${what}: the warehouse (dataset "${this.datasetId}") is closed`, {
          retryable: false,
        }),
      );
    }
    const result = work().catch((e: unknown) => {
      throw bigQueryError(code, what, e, 'rest');
    });
    this.inFlight.add(result);
    const forget = (): void => {
      this.inFlight.delete(result);
    };
    void result.then(forget, forget);
    return result;
  }

  private async appendRows<R>(
    table: string,
    columns: readonly Column<R>[],
    rows: readonly R[],
    ensure: () => Promise<void>,
    describe: (row: R) => string,
  ): Promise<void> {
    const where = (i: number): string => rowWhere(table, i, rows[i], describe);
    // Checked before the table is even created: a bad row costs no API call.
    const writerRows = rows.map((row, i) => writerRow(columns, row, () => where(i)));
    await ensure();
    await this.send(table, columns, writerRows, where);
  }

  /**
   * Change rows into `table` (`_changes` or the pending table): those that fit an AppendRows
   * request through the Storage Write API, as always, and the larger ones (`routed.loaded`, rare)
   * in one load job at the same time. Settles only when both have, so nothing of the call is
   * still writing when it fails.
   */
  private async writeChanges(
    table: string,
    rows: readonly WriterRow[],
    routed: RoutedRows,
    where: (i: number) => string,
  ): Promise<void> {
    if (routed.loaded.length === 0) {
      await this.appender.append(this.target(table, tableFields(CHANGES_TABLE.columns)), rows, where, routed.sizes);
      return;
    }
    const pick = (indexes: readonly number[]): WriterRow[] =>
      indexes.flatMap((i) => (rows[i] === undefined ? [] : [rows[i]]));
    const results = await Promise.allSettled([
      this.appender.append(
        this.target(table, tableFields(CHANGES_TABLE.columns)),
        pick(routed.streamed),
        (k) => where(routed.streamed[k] ?? k),
        routed.streamed.map((i) => routed.sizes[i] ?? 0),
      ),
      this.loadChangeRows(
        table,
        pick(routed.loaded),
        routed.loaded.map((i) => routed.sizes[i] ?? 0),
        (k) => where(routed.loaded[k] ?? k),
      ),
    ]);
    for (const result of results) if (result.status === 'rejected') throw result.reason;
  }

  /**
   * Appends change rows to `table` by one load job (atomic: all of them or none). A job that
   * fails for its data (reason `invalid`: a value BigQuery will not store, though it passed our
   * checks) is `WAREHOUSE.INVALID_ROW`, so the loader isolates that row as it does one the Storage
   * Write API refuses; the rows are named by `where`.
   */
  private async loadChangeRows(
    table: string,
    rows: readonly WriterRow[],
    sizes: readonly number[],
    where: (i: number) => string,
  ): Promise<void> {
    const startedMs = Date.now();
    function* lines(): Generator<string> {
      for (const row of rows) yield writerRowLine(row, CHANGES_JSON_COLUMNS);
    }
    try {
      await loadNdjson(this.dataset().table(table), ndjsonPieces(lines()));
    } catch (e: unknown) {
      const failure = describeFailure(e, 'rest');
      if (failure.status !== 'invalid') throw e;
      const which = rows.length === 1 ? where(0) : `one of ${rows.length} rows loaded together (${where(0)}, …)`;
      throw new AppError('WAREHOUSE.INVALID_ROW', `${which}: BigQuery's load job refused it: ${failure.message}`, {
        retryable: false,
        cause: e,
      });
    }
    this.logger.info('rows too large for a Storage Write request appended by a load job', {
      table,
      rows: rows.length,
      bytes: sizes.reduce((a, b) => a + b, 0),
      durationMs: Date.now() - startedMs,
    });
  }

  private send<R>(
    table: string,
    columns: readonly Column<R>[],
    rows: readonly WriterRow[],
    where: (i: number) => string,
  ): Promise<void> {
    return this.appender.append(this.target(table, tableFields(columns)), rows, where);
  }

  private target(
    table: string,
    fields: readonly TableField[],
  ): { projectId: string; dataset: string; table: string; fields: readonly TableField[] } {
    return { projectId: this.projectId, dataset: this.datasetId, table, fields };
  }

  private ensureDataset(): Promise<void> {
    this.datasetReady ??= (async () => {
      const dataset = this.dataset();
      const [exists] = await dataset.exists();
      if (exists) return;
      try {
        await dataset.create({ location: this.location });
        this.logger.info('dataset created', { dataset: this.datasetId, location: this.location });
      } catch (e: unknown) {
        if (!isAlreadyExists(e)) throw e;
      }
    })();
    void this.datasetReady.catch(() => {
      this.datasetReady = undefined;
    });
    return this.datasetReady;
  }

  /** Creates `table` with `metadata` unless it exists; once per table per process. */
  private ensureTable(table: string, metadata: TableMetadata): Promise<void> {
    return this.once(table, async () => {
      await this.ensureDataset();
      await this.createIfMissing(table, metadata);
    });
  }

  /** Runs `work` once per `key` per process; a failure is forgotten so that the next call retries. */
  private once(key: string, work: () => Promise<void>): Promise<void> {
    let ready = this.ensured.get(key);
    if (ready === undefined) {
      ready = work();
      this.ensured.set(key, ready);
      const settled = ready;
      void settled.catch(() => {
        if (this.ensured.get(key) === settled) this.ensured.delete(key);
      });
    }
    return ready;
  }

  /** True when this call created the table. */
  private async createIfMissing(table: string, metadata: TableMetadata): Promise<boolean> {
    if ((await this.tableMetadata(table)) !== undefined) return false;
    try {
      await this.dataset().createTable(table, metadata);
      this.logger.info('table created', { dataset: this.datasetId, table });
      return true;
    } catch (e: unknown) {
      if (!isAlreadyExists(e)) throw e;
      return false;
    }
  }

  /**
   * `<table>_changes`, `<table>_current` (and in merge mode the compaction's own tables), and
   * the `<table>_history` view; once per table and mode per process. A `_current` created next
   * to an existing `_changes` (a dataset from before `_current` was a table, or a dropped one)
   * is built from the whole history before the first append reaches it.
   */
  private ensureStreamTables(table: string, current: CurrentOptions): Promise<void> {
    const names = currentTableNames(table);
    return this.once(`${names.changes}#${current.mode}`, async () => {
      await this.ensureDataset();
      const newHistory = await this.createIfMissing(names.changes, tableMetadata(CHANGES_TABLE));
      if (current.mode === 'merge') {
        await this.createIfMissing(names.pending, pendingTableMetadata());
        await this.createIfMissing(names.deleted, deletedTableMetadata());
        await this.createIfMissing(names.compactions, compactionsTableMetadata());
      }
      const newCurrent = await this.ensureCurrentTable(table, current);
      if (newCurrent && !newHistory) await this.buildCurrent(table, current);
      await this.ensureHistoryView(table);
    });
  }

  /**
   * `<table>_current` as a table; a view of that name (what `_current` was before) is dropped
   * first. In cdc mode an existing table's `max_staleness` is brought to the configured one.
   * True when this call created the table.
   */
  private async ensureCurrentTable(table: string, current: CurrentOptions): Promise<boolean> {
    const names = currentTableNames(table);
    // 0: no max_staleness, so every query merges the changes not yet applied (always fresh).
    const maxStalenessMs = current.mode === 'cdc' && current.maxStalenessMs > 0 ? current.maxStalenessMs : undefined;
    const existing = await this.tableMetadata(names.current);
    if (existing?.type === 'VIEW') {
      await this.runStatement(`DROP VIEW IF EXISTS ${this.ref(names.current)}`);
      this.logger.info('the _current view is replaced by a table', { dataset: this.datasetId, table: names.current });
    } else if (existing !== undefined) {
      const wanted = maxStalenessMs === undefined ? undefined : intervalLiteral(maxStalenessMs);
      if (wanted !== undefined && existing.maxStaleness !== wanted) {
        await this.dataset().table(names.current).setMetadata({ maxStaleness: wanted });
        this.logger.info('max_staleness set', { table: names.current, maxStaleness: wanted });
      }
      return false;
    }
    return this.createIfMissing(names.current, currentTableMetadata(maxStalenessMs));
  }

  /** Fills a new `_current` from the whole history: merge mode by a full compaction, cdc by the same MERGE once. */
  private async buildCurrent(table: string, current: CurrentOptions): Promise<void> {
    const startedMs = Date.now();
    if (current.mode === 'merge') {
      await this.compactor.run(table, { full: true });
    } else {
      const statements = compactionStatements(
        this.currentRefs(table),
        { kind: 'full' },
        { tombstones: false, recordWatermark: false },
      );
      await this.runStatement(inTransaction(statements));
    }
    this.logger.info('_current built from the history', { table, durationMs: Date.now() - startedMs });
  }

  /**
   * The `<table>_history` view, replaced only when its definition differs from ours (so a changed
   * definition reaches old datasets), not on every start: table metadata updates are
   * rate-limited per table, and many loader instances start at once.
   */
  private async ensureHistoryView(table: string): Promise<void> {
    const names = currentTableNames(table);
    const sql = historyViewSql(this.currentRefs(table));
    const view = await this.tableMetadata(names.history);
    if (view?.view?.query?.trim() === viewQuery(sql)) return;
    await this.runStatement(sql);
    this.logger.info('view created', { dataset: this.datasetId, view: names.history });
  }

  private currentRefs(table: string): CurrentRefs {
    return currentRefs(this.projectId, this.datasetId, table);
  }

  private async tableMetadata(table: string): Promise<TableMetadata | undefined> {
    try {
      const [metadata] = (await this.dataset().table(table).getMetadata()) as [TableMetadata, unknown];
      return metadata;
    } catch (e: unknown) {
      if (isNotFound(e)) return undefined;
      throw e;
    }
  }

  /**
   * Loads `records` (only the `fields` columns) into a fresh staging table that expires by itself,
   * runs `work` with its reference, and drops it. Load jobs cost no query bytes.
   * https://cloud.google.com/bigquery/docs/loading-data-local
   */
  private async withStagingTable(
    table: string,
    fields: readonly TableField[],
    records: readonly JsonRecord[],
    work: (stageRef: string) => Promise<void>,
  ): Promise<void> {
    const stageName = `${STAGING_TABLE_PREFIX}${table}_${randomUUID().replaceAll('-', '').slice(0, 12)}`;
    const [stage] = await this.dataset().createTable(stageName, {
      schema: { fields: [...fields] },
      expirationTime: String(Date.now() + this.stagingTableTtlMs),
    });
    try {
      await loadNdjson(stage, ndjsonChunks(records, fields, new Date()));
      await work(this.ref(stageName));
    } finally {
      await stage.delete().catch((e: unknown) => {
        this.logger.warn('staging table not dropped (it expires by itself)', {
          table: stageName,
          error: describeFailure(e, 'rest').message,
        });
      });
    }
  }

  private async runStatement(sql: string): Promise<void> {
    await this.runQuery(sql);
  }

  private async runQuery(sql: string): Promise<{ rows: unknown[]; fields: TableField[] }> {
    const [job] = await this.bigquery.createQueryJob({
      query: sql,
      useLegacySql: false,
      location: this.location,
      defaultDataset: { projectId: this.projectId, datasetId: this.datasetId },
    });
    const [rows, , response] = await job.getQueryResults({ wrapIntegers: true });
    return { rows, fields: response?.schema?.fields ?? [] };
  }

  private dataset(): Dataset {
    return this.bigquery.dataset(this.datasetId, { projectId: this.projectId, location: this.location });
  }

  private ref(table: string): string {
    return tableRef(this.projectId, this.datasetId, table);
  }
}

/** The SELECT of a `CREATE OR REPLACE VIEW ... AS <select>` statement, as tables.get reports it. */
function viewQuery(createViewSql: string): string {
  return createViewSql.slice(createViewSql.indexOf(' AS\n') + ' AS\n'.length).trim();
}

function isNotFound(e: unknown): boolean {
  const failure = describeFailure(e, 'rest');
  return failure.status === 'notFound' || failure.status === 'HTTP 404';
}

function isAlreadyExists(e: unknown): boolean {
  const failure = describeFailure(e, 'rest');
  return failure.status === 'duplicate' || failure.status === 'HTTP 409';
}

function rowWhere<R>(table: string, index: number, row: R | undefined, describe: (row: R) => string): string {
  return `${table} row ${index}${row === undefined ? '' : ` (${describe(row)})`}`;
}

/** The JSON columns of a change row, whose text a load job line carries as JSON. */
const CHANGES_JSON_COLUMNS: ReadonlySet<string> = new Set(
  CHANGES_TABLE.columns.filter((c) => c.type === 'json').map((c) => c.name),
);

/**
 * A change as a change data capture row of `_current`: its columns, `_CHANGE_TYPE` and
 * `_CHANGE_SEQUENCE_NUMBER`. `withoutData`: a row too large for an AppendRows request keeps its
 * place in the order but not its record (see `appendChanges`).
 */
function cdcRow(row: ChangeRow, where: () => string, withoutData: boolean): WriterRow {
  return {
    ...currentWriterRow(row, where),
    ...(withoutData ? { data: null } : {}),
    _CHANGE_TYPE: changeType(row),
    _CHANGE_SEQUENCE_NUMBER: changeSequenceNumber(row),
  };
}
