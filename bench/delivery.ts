import path from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import { createBatchLoader, toChangeRow } from '@changefeed/loader';
import { DuckDbWarehouse, SqliteLocalBus, type ConsumeResult } from '@changefeed/shared/adapters/local';
import { DEFAULTS } from '@changefeed/shared/config';
import { errorMessage } from '@changefeed/shared/errors';
import { decodeChangeMessage } from '@changefeed/shared/events';
import { createSilentLogger } from '@changefeed/shared/log';
import { systemClock, type ChangeRow } from '@changefeed/shared/ports';
import { appendBare, BARE_SETTINGS, createBareChangesTable } from './bare-appender';
import { target, type BenchOptions, type SectionResult } from './bench-types';
import { elapsedMs, median, repeat } from './measure';
import { BENCH_TABLE, buildMessages } from './push-bodies';

const PUBLISH_GROUP = DEFAULTS.poller.publishBatchSize;

/**
 * Bus → warehouse alone: `count` messages already in the local bus file are delivered in batches
 * to the loader's batch core, appended to DuckDB (`_changes` and the `_current` upsert), and
 * acked; timed from `start()` to idle. Returns ms.
 */
async function deliverOnce(dir: string, run: number, messagesCount: number): Promise<number> {
  const messages = buildMessages(messagesCount);
  const warehouse = await DuckDbWarehouse.open(path.join(dir, `delivery-${run}.duckdb`));
  const load = createBatchLoader({ sink: warehouse, clock: systemClock, logger: createSilentLogger() });
  const bus = SqliteLocalBus.open({
    file: path.join(dir, `delivery-${run}.sqlite`),
    pushEndpoint: '',
    batches: {
      batchSize: DEFAULTS.bus.batchSize,
      consume: async (batch) =>
        (await load(batch)).map((o): ConsumeResult =>
          o.kind === 'failed' ? { ok: false, error: errorMessage(o.error) } : { ok: true },
        ),
    },
    subscription: 'projects/local/subscriptions/changefeed-loader',
    maxDeliveryAttempts: 5,
    minBackoffMs: 10,
    maxBackoffMs: 100,
    concurrency: DEFAULTS.bus.concurrency,
    ackDeadlineMs: DEFAULTS.bus.ackDeadline.totalOf('millisecond'),
    logger: createSilentLogger(),
  });
  try {
    for (let i = 0; i < messages.length; i += PUBLISH_GROUP) await bus.publish(messages.slice(i, i + PUBLISH_GROUP));
    const start = process.hrtime.bigint();
    bus.start();
    await bus.waitUntilIdle();
    const ms = elapsedMs(start);
    const [row] = await warehouse.query(`SELECT count(*) AS n FROM ${BENCH_TABLE}_changes`);
    const stats = bus.stats();
    if (row?.['n'] !== messagesCount || stats.deadLettered !== 0) {
      throw new Error(
        `delivery: expected ${messagesCount} rows, the warehouse has ${String(row?.['n'])} and ${stats.deadLettered} were dead-lettered`,
      );
    }
    return ms;
  } finally {
    await bus.close();
    await warehouse.close();
  }
}

/** The same rows written by a bare DuckDB appender, in one transaction per batch. Returns ms. */
async function bareAppendOnce(dir: string, run: number, rows: readonly ChangeRow[]): Promise<number> {
  const instance = await DuckDBInstance.create(path.join(dir, `bare-${run}.duckdb`), BARE_SETTINGS);
  const c = await instance.connect();
  try {
    await createBareChangesTable(c, 'changes');
    const start = process.hrtime.bigint();
    for (let i = 0; i < rows.length; i += DEFAULTS.bus.batchSize) {
      await appendBare(c, 'changes', rows.slice(i, i + DEFAULTS.bus.batchSize));
    }
    return elapsedMs(start);
  } finally {
    c.closeSync();
    instance.closeSync();
  }
}

/** The rows the loader makes of the bench messages (decoded once, outside the timing). */
function rowsOf(count: number): ChangeRow[] {
  const now = new Date();
  return buildMessages(count).map((m, i) =>
    toChangeRow(
      decodeChangeMessage(m.data, m.attributes),
      {
        messageId: String(i + 1),
        subscription: '',
        data: m.data,
        attributes: m.attributes,
        publishTime: now,
        orderingKey: m.orderingKey,
        deliveryAttempt: 1,
      },
      now,
    ),
  );
}

export async function benchDelivery(options: BenchOptions): Promise<SectionResult> {
  const count = options.quick ? 2_000 : 100_000;
  const rows = rowsOf(count);
  const delivery = await repeat(options.runs, (run) => deliverOnce(options.workDir, run, count));
  const bare = await repeat(options.runs, (run) => bareAppendOnce(options.workDir, run, rows));
  const rates = delivery.map((ms) => count / (ms / 1000));
  const bareRates = bare.map((ms) => count / (ms / 1000));
  const ratios = rates.map((r, i) => r / (bareRates[i] ?? Number.NaN));
  const rate = median(rates);
  const ratio = median(ratios);
  options.log(
    `delivery: ${count} messages, ${median(delivery).toFixed(0)} ms; bare appender ${median(bare).toFixed(0)} ms`,
  );
  return {
    id: 'delivery',
    title: 'Delivery alone: local bus → loader (batches) → DuckDB, against the bare appender',
    figures: [
      {
        label: `bus → rows visible (${count.toLocaleString('en')} messages)`,
        value: median(delivery),
        unit: 'ms',
        samples: delivery,
      },
      { label: 'delivery rate', value: rate, unit: 'events/s', samples: rates },
      { label: 'bare DuckDB appender, same rows', value: median(bareRates), unit: 'rows/s', samples: bareRates },
      { label: 'delivery / bare appender', value: ratio, unit: 'x', samples: ratios },
    ],
    targets: [
      target('delivery ≥ 50,000 events/s', rate, 50_000, 'min', 'events/s'),
      target('delivery ≥ 0.3× the bare DuckDB appender', ratio, 0.3, 'min'),
    ],
    notes: [
      `${count.toLocaleString('en')} cart updates (one per entity, ~1 KB) published to the bus file in groups of ${PUBLISH_GROUP} before the clock starts; batches of ${DEFAULTS.bus.batchSize}; the loader decodes each CloudEvent (attributes checked, the record kept as its JSON text), stages the rows in DuckDB data chunks, checks their JSON in one json_valid scan, appends to carts_changes and upserts _current in one transaction per batch, and the bus records the acks in one SQLite transaction per batch (one DELETE for the batch)`,
      `baseline: the decoded rows written by a bare DuckDB appender into a table of the same columns, one transaction per ${DEFAULTS.bus.batchSize} rows, no _current, with the warehouse's own checkpoint_threshold (${BARE_SETTINGS.checkpoint_threshold}), in the same run; median of ${options.runs} run(s) after a warm-up`,
    ],
  };
}
