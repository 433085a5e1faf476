import { randomUUID } from 'node:crypto';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { BigQuery, Dataset, TableField, TableMetadata } from '@google-cloud/bigquery';
import type { managedwriter } from '@google-cloud/bigquery-storage';
import { AppError } from '../../errors';
import { createSilentLogger, type Logger } from '../../log';
import type { ChangeRow, JsonRecord, ReferenceLoader, RejectedRow, RowSink, RunLog, RunRecord } from '../../ports';
import { DEFAULT_MAX_APPEND_REQUEST_BYTES, DefaultStreamAppender } from './bigquery-default-stream';
import { bigQueryError, describeFailure } from './bigquery-errors';
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
import {
  CHANGE_COLUMNS,
  REJECTED_COLUMNS,
  REJECTED_TABLE,
  RUN_COLUMNS,
  RUNS_TABLE,
  changesTable,
  changesTableMetadata,
  currentView,
  currentViewSql,
  rejectedTableMetadata,
  runsTableMetadata,
  tableFields,
  tableRef,
  writerRow,
  type ColumnSpec,
} from './bigquery-tables';

export interface BigQueryWarehouseOptions {
  readonly projectId: string;
  /** The dataset holding every table; created (in `location`) on first use when missing. */
  readonly dataset: string;
  /** Where the dataset lives and jobs run, e.g. `US` or `europe-west1`. */
  readonly location: string;
  readonly logger?: Logger;
  /** Estimated bytes per AppendRows request; below the API's 10 MB limit. */
  readonly maxAppendRequestBytes?: number;
  /** How long a staging table outlives a process that died before dropping it. */
  readonly stagingTableTtlMs?: number;
}

/** Staging tables expire by themselves after this long if nothing dropped them. */
const DEFAULT_STAGING_TABLE_TTL_MS = 24 * 60 * 60 * 1000;
const STAGING_TABLE_PREFIX = '_changefeed_stage_';

/**
 * The warehouse on Google Cloud: one BigQuery dataset holding `<source>_changes` (append-only,
 * one row per event), the `<source>_current` view, `_rejected`, `_runs` and the batch sources'
 * reference tables, the same tables with the same columns as the DuckDB warehouse.
 *
 * Rows are appended through the Storage Write API's default stream and are durable when a call
 * resolves; reference tables are written through load jobs into a staging table, then one
 * statement (CREATE OR REPLACE TABLE ... AS SELECT, or MERGE) applies them atomically. Tables and
 * the view are created on first use.
 *
 * Takes ownership of the clients: `close()` closes the Storage Write client.
 * https://cloud.google.com/bigquery/docs/write-api
 */
export class BigQueryWarehouse implements RowSink, ReferenceLoader, RunLog {
  private readonly projectId: string;
  private readonly datasetId: string;
  private readonly location: string;
  private readonly logger: Logger;
  private readonly stagingTableTtlMs: number;
  private readonly appender: DefaultStreamAppender;
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
    this.appender = new DefaultStreamAppender(
      writeClient,
      this.logger,
      options.maxAppendRequestBytes ?? DEFAULT_MAX_APPEND_REQUEST_BYTES,
    );
  }

  /**
   * Appends `rows` to `<table>_changes`, creating it and `<table>_current` on first use. Every
   * row is checked before anything is sent: a row that can never be stored rejects the call with
   * `WAREHOUSE.INVALID_ROW` (or `WAREHOUSE.ROW_TOO_LARGE`), not retryable. More rows than fit one
   * request are sent in several; if a later one fails, the earlier ones stay appended, and the
   * retry's duplicates are dropped by the view's dedup on event id.
   */
  appendChanges(table: string, rows: readonly ChangeRow[]): Promise<void> {
    const changes = changesTable(table);
    return this.track(`appending ${rows.length} rows to "${changes}"`, 'WAREHOUSE.WRITE_FAILED', async () => {
      if (rows.length === 0) return;
      await this.appendRows(
        changes,
        CHANGE_COLUMNS,
        rows,
        () => this.ensureChangesTable(table),
        (r) => `event ${r.event_id}`,
      );
    });
  }

  appendRejected(rows: readonly RejectedRow[]): Promise<void> {
    return this.track(`appending ${rows.length} rows to "${REJECTED_TABLE}"`, 'WAREHOUSE.WRITE_FAILED', async () => {
      if (rows.length === 0) return;
      await this.appendRows(
        REJECTED_TABLE,
        REJECTED_COLUMNS,
        rows,
        () => this.ensureTable(REJECTED_TABLE, rejectedTableMetadata()),
        (r) => `message ${r.message_id ?? '?'}`,
      );
    });
  }

  recordRun(run: RunRecord): Promise<void> {
    return this.track(`recording run ${run.runId}`, 'WAREHOUSE.WRITE_FAILED', () =>
      this.appendRows(
        RUNS_TABLE,
        RUN_COLUMNS,
        [run],
        () => this.ensureTable(RUNS_TABLE, runsTableMetadata()),
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
    columns: readonly ColumnSpec<R>[],
    rows: readonly R[],
    ensure: () => Promise<void>,
    describe: (row: R) => string,
  ): Promise<void> {
    const where = (i: number): string => {
      const row = rows[i];
      return `${table} row ${i}${row === undefined ? '' : ` (${describe(row)})`}`;
    };
    // Checked before the table is even created: a bad row costs no API call.
    const writerRows = rows.map((row, i) => writerRow(columns, row, () => where(i)));
    await ensure();
    await this.appender.append(
      { projectId: this.projectId, dataset: this.datasetId, table, fields: tableFields(columns) },
      writerRows,
      where,
    );
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
  private ensureTable(table: string, metadata: TableMetadata, then?: () => Promise<void>): Promise<void> {
    let ready = this.ensured.get(table);
    if (ready === undefined) {
      ready = (async () => {
        await this.ensureDataset();
        if ((await this.tableMetadata(table)) === undefined) {
          try {
            await this.dataset().createTable(table, metadata);
            this.logger.info('table created', { dataset: this.datasetId, table });
          } catch (e: unknown) {
            if (!isAlreadyExists(e)) throw e;
          }
        }
        await then?.();
      })();
      this.ensured.set(table, ready);
      void ready.catch(() => {
        if (this.ensured.get(table) === ready) this.ensured.delete(table);
      });
    }
    return ready;
  }

  /**
   * `<table>_changes` and its `_current` view. The view is replaced only when its definition
   * differs from ours (so a changed definition reaches old datasets), not on every start: table
   * metadata updates are rate-limited per table, and many loader instances start at once.
   */
  private ensureChangesTable(table: string): Promise<void> {
    return this.ensureTable(changesTable(table), changesTableMetadata(), async () => {
      const sql = currentViewSql(this.projectId, this.datasetId, table);
      const view = await this.tableMetadata(currentView(table));
      if (view?.view?.query?.trim() === viewQuery(sql)) return;
      await this.runStatement(sql);
      this.logger.info('view created', { dataset: this.datasetId, view: currentView(table) });
    });
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
      const upload = stage.createWriteStream({
        sourceFormat: 'NEWLINE_DELIMITED_JSON',
        writeDisposition: 'WRITE_APPEND',
        createDisposition: 'CREATE_NEVER',
      });
      // Resolves once the load job has completed; a failed job destroys the stream with its error.
      await pipeline(Readable.from(ndjsonChunks(records, fields, new Date())), upload);
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
