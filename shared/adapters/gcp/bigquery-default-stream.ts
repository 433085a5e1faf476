import type { TableField } from '@google-cloud/bigquery';
import { adapt, managedwriter } from '@google-cloud/bigquery-storage';
import { AppError } from '../../errors';
import type { Logger } from '../../log';
import { systemClock, type Clock } from '../../ports';
import { appendResponseError } from './bigquery-append-response';
import { bigQueryError, describeFailure } from './bigquery-errors';
import type { WriterRow } from './bigquery-tables';

type AdaptOption = ReturnType<typeof adapt.withChangeType>;

/**
 * The AppendRows request limit is 10 MB; requests are filled to this many bytes as estimated by
 * `estimatedRowBytes`, which leaves room for the writer schema every request carries.
 * https://cloud.google.com/bigquery/quotas#write-api-limits
 */
export const DEFAULT_MAX_APPEND_REQUEST_BYTES = 9 * 1024 * 1024;

/**
 * gRPC statuses after which the AppendRows connection is closed and opened again: the ones the
 * managed writer itself calls retryable (`StreamConnection.isRetryableError`). Its own retry only
 * resends on the connection it has, and a gRPC channel that was refused keeps failing new calls
 * at once (`UNAVAILABLE … No connection established`) until its reconnect backoff ends, so the
 * appender retries itself, on a fresh connection, after a growing pause. CANCELLED is left out:
 * it is what closing our own writer gives the appends in flight, and reopening after close()
 * would leave a stream open past shutdown.
 */
const RECONNECT_STATUSES: ReadonlySet<string> = new Set(['UNAVAILABLE', 'DEADLINE_EXCEEDED', 'INTERNAL', 'ABORTED']);

/**
 * Pauses before each retry of an append on a fresh connection, in ms: 3.75 s in all, longer than
 * the writer channel's longest reconnect backoff (`WRITER_CHANNEL_OPTIONS` in bigquery-clients.ts),
 * so the first append after the endpoint is back lands; shorter than a push request's deadline.
 */
export const RECONNECT_DELAYS_MS: readonly number[] = [250, 500, 1000, 2000];

/** Per-row room for the ProtoRows framing (tag and length) and rounding in the estimate. */
const ROW_OVERHEAD_BYTES = 16;

/**
 * An upper bound of a row's protobuf size: its JSON text is at least as long as the proto
 * encoding (a field name is at least as long as a proto tag and length, a timestamp's ISO text
 * longer than its varint, and absent nulls cost nothing in proto).
 */
export function estimatedRowBytes(row: WriterRow): number {
  return Buffer.byteLength(JSON.stringify(row)) + ROW_OVERHEAD_BYTES;
}

/**
 * Splits rows, in order, into requests of at most `maxBytes` estimated bytes each. A row larger
 * than `maxBytes` on its own can never be appended: `WAREHOUSE.ROW_TOO_LARGE`, not retryable
 * (callers that can store such a row otherwise take it out first, see `routeBySize`). `sizes`:
 * the rows' `estimatedRowBytes` when the caller has them already.
 */
export function splitIntoRequests(
  rows: readonly WriterRow[],
  maxBytes: number,
  where: (index: number) => string,
  sizes?: readonly number[],
): WriterRow[][] {
  const requests: WriterRow[][] = [];
  let current: WriterRow[] = [];
  let currentBytes = 0;
  rows.forEach((row, index) => {
    const bytes = sizes?.[index] ?? estimatedRowBytes(row);
    if (bytes > maxBytes) {
      throw new AppError(
        'WAREHOUSE.ROW_TOO_LARGE',
        `${where(index)} is about ${bytes} bytes; one AppendRows request holds at most ${maxBytes}`,
        { retryable: false, details: { bytes, maxBytes } },
      );
    }
    if (current.length > 0 && currentBytes + bytes > maxBytes) {
      requests.push(current);
      current = [];
      currentBytes = 0;
    }
    current.push(row);
    currentBytes += bytes;
  });
  if (current.length > 0) requests.push(current);
  return requests;
}

export interface DefaultStreamTarget {
  readonly projectId: string;
  readonly dataset: string;
  readonly table: string;
  readonly fields: readonly TableField[];
  /**
   * Rows carry `_CHANGE_TYPE` and `_CHANGE_SEQUENCE_NUMBER` (change data capture). Such rows
   * cannot share a connection with plain ones, so they get their own writer.
   * https://cloud.google.com/bigquery/docs/change-data-capture
   */
  readonly changeCapture?: boolean;
}

/**
 * Appends rows to tables through the Storage Write API's default stream: committed on
 * acknowledgement, at-least-once (a retried request may append its rows twice, which
 * `_current` counts once: an event replaces a row only when it is later). One JSONWriter (one
 * bidirectional AppendRows connection) per table, shared by concurrent calls; the client
 * reconnects by itself on the next request after a connection fails.
 * https://cloud.google.com/bigquery/docs/write-api#default_stream
 */
export class DefaultStreamAppender {
  private readonly writers = new Map<string, Promise<managedwriter.JSONWriter>>();
  /** Set by close(): an append that fails afterwards is not retried on a new connection. */
  private closed = false;

  constructor(
    private readonly client: managedwriter.WriterClient,
    private readonly logger: Logger,
    private readonly maxRequestBytes: number = DEFAULT_MAX_APPEND_REQUEST_BYTES,
    private readonly clock: Clock = systemClock,
    private readonly reconnectDelaysMs: readonly number[] = RECONNECT_DELAYS_MS,
  ) {}

  /**
   * Sends `rows` in as many requests as the size limit needs and resolves once every request is
   * acknowledged (the rows are then durable). Rows of requests acknowledged before a failed one
   * stay appended: the default stream has no transaction across requests. `sizes`: the rows'
   * `estimatedRowBytes`, when the caller has them already.
   */
  async append(
    target: DefaultStreamTarget,
    rows: readonly WriterRow[],
    where: (index: number) => string,
    sizes?: readonly number[],
  ): Promise<void> {
    if (rows.length === 0) return;
    const requests = splitIntoRequests(rows, this.maxRequestBytes, where, sizes);
    // Each request with the index of its first row in `rows`, so a refused row is named as the caller knows it.
    let offset = 0;
    let pending = requests.map((request) => {
      const sent = { request, offset };
      offset += request.length;
      return sent;
    });
    for (let attempt = 0; ; attempt += 1) {
      const writer = await this.writerFor(target);
      // All requests go out at once on the one connection; the service answers them in order.
      const results = await Promise.allSettled(pending.map((p) => writer.appendRows(p.request).getResult()));
      const failed: { sent: { request: WriterRow[]; offset: number }; error: unknown }[] = [];
      results.forEach((result, i) => {
        const sent = pending[i];
        if (sent === undefined) return;
        const error: unknown =
          result.status === 'rejected'
            ? result.reason
            : appendResponseError(result.value, (index) => where(sent.offset + index));
        if (error !== undefined) failed.push({ sent, error });
      });
      // Rows the service refused for their content come first: no retry stores them, and the
      // caller isolates them (the other requests of a retry would meet them again).
      const refused = failed.find((f) => f.error instanceof AppError);
      if (refused !== undefined) {
        this.logger.warn('Storage Write refused rows of a request; none of its rows were appended', {
          table: target.table,
          error: describeFailure(refused.error, 'storage-write').message,
        });
        throw refused.error;
      }
      const first = failed[0];
      if (first === undefined) break;
      const delayMs = this.reconnectDelaysMs[attempt];
      const status = describeFailure(first.error, 'storage-write').status;
      if (this.closed || delayMs === undefined || status === null || !RECONNECT_STATUSES.has(status)) {
        throw this.failure(target, first.error);
      }
      // Acknowledged requests are durable; only the failed ones go again, on a new connection.
      this.logger.warn('Storage Write connection failed; reconnecting', {
        table: target.table,
        status,
        attempt: attempt + 1,
        delayMs,
        error: describeFailure(first.error, 'storage-write').message,
      });
      this.forget(target.table);
      await this.clock.sleep(delayMs);
      if (this.closed) throw this.failure(target, first.error);
      pending = failed.map((f) => f.sent);
    }
    if (requests.length > 1) {
      this.logger.debug('rows appended in several requests', {
        table: target.table,
        rows: rows.length,
        requests: requests.length,
      });
    }
  }

  /** Forgets the table's writer, e.g. after the table was dropped and must be re-created. */
  forget(table: string): void {
    const writer = this.writers.get(table);
    this.writers.delete(table);
    void writer?.then(
      (w) => w.close(),
      () => undefined,
    );
  }

  close(): void {
    this.closed = true;
    for (const table of [...this.writers.keys()]) this.forget(table);
  }

  private writerFor(target: DefaultStreamTarget): Promise<managedwriter.JSONWriter> {
    let writer = this.writers.get(target.table);
    if (writer === undefined) {
      writer = this.openWriter(target);
      this.writers.set(target.table, writer);
      void writer.catch(() => this.writers.delete(target.table));
    }
    return writer;
  }

  /** With change data capture, the two pseudo-columns join the table's columns in the descriptor. */
  private descriptorOptions(target: DefaultStreamTarget): AdaptOption[] {
    return target.changeCapture === true ? [adapt.withChangeType(), adapt.withChangeSequenceNumber()] : [];
  }

  private async openWriter(target: DefaultStreamTarget): Promise<managedwriter.JSONWriter> {
    const destinationTable = `projects/${target.projectId}/datasets/${target.dataset}/tables/${target.table}`;
    const connection = await this.client.createStreamConnection({
      streamId: managedwriter.DefaultStream,
      destinationTable,
    });
    // Without a listener the connection re-emits a non-retryable error as an uncaught 'error'.
    connection.onConnectionError((e) => {
      const failure = describeFailure(e, 'storage-write');
      this.logger.warn('Storage Write connection error', {
        table: target.table,
        status: failure.status,
        retryable: failure.retryable,
        error: failure.message,
      });
    });
    const options = this.descriptorOptions(target);
    const storageSchema = adapt.convertBigQuerySchemaToStorageTableSchema({ fields: [...target.fields] });
    const protoDescriptor = adapt.convertStorageSchemaToProto2Descriptor(storageSchema, 'root', ...options);
    const writer = new managedwriter.JSONWriter({ connection, protoDescriptor });
    if (options.length > 0) {
      // On a schema update the JSONWriter rebuilds its descriptor from the table's new schema
      // alone, which drops the pseudo-columns, and every later CDC row would then be written
      // as a plain one. This listener runs after the writer's own and puts them back.
      connection.onSchemaUpdated((schema) => {
        writer.setProtoDescriptor(adapt.convertStorageSchemaToProto2Descriptor(schema, 'root', ...options));
        this.logger.info('Storage Write schema updated; change data capture columns kept', { table: target.table });
      });
    }
    return writer;
  }

  /** One log line per failed append, naming the table and the status, then the mapped error. */
  private failure(target: DefaultStreamTarget, e: unknown): AppError {
    const failure = describeFailure(e, 'storage-write');
    const schemaProblem = failure.status === 'INVALID_ARGUMENT';
    const quotaProblem = failure.status === 'RESOURCE_EXHAUSTED';
    this.logger.error(
      schemaProblem
        ? 'Storage Write refused the rows (schema mismatch or invalid value)'
        : quotaProblem
          ? 'Storage Write quota or size limit hit'
          : 'Storage Write append failed',
      { table: target.table, status: failure.status, retryable: failure.retryable, error: failure.message },
    );
    // A table dropped behind our back: drop the connection too, so the next attempt starts afresh.
    if (failure.status === 'NOT_FOUND') this.forget(target.table);
    return bigQueryError('WAREHOUSE.WRITE_FAILED', `appending to "${target.table}"`, e, 'storage-write');
  }
}
