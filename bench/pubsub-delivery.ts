import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { randomUUID } from 'node:crypto';
import path from 'node:path';
import type { PubSub, Subscription, Topic } from '@google-cloud/pubsub';
import type * as LoaderModule from '@changefeed/loader';
import type * as GcpAdapters from '@changefeed/shared/adapters/gcp';
import { DuckDbWarehouse } from '@changefeed/shared/adapters/local';
import { DEFAULTS, loaderSchema } from '@changefeed/shared/config';
import { errorMessage } from '@changefeed/shared/errors';
import { listen, type ListeningServer } from '@changefeed/shared/http';
import { createSilentLogger } from '@changefeed/shared/log';
import {
  systemClock,
  type ChangeRow,
  type OutboundMessage,
  type RejectedRow,
  type RowSink,
} from '@changefeed/shared/ports';
import { target, type BenchOptions, type Figure, type SectionResult } from './bench-types';
import { pubsubEmulator } from './emulators/gcloud-emulators';
import { startEmulator, type RunningEmulator } from './emulators/start-emulator';
import { elapsedMs, median, repeat } from './measure';
import { BENCH_TABLE, buildMessages } from './push-bodies';

/**
 * The emulator pushes one message at a time (see the notes), so each push is a group commit of
 * one row, and push sets the size: 2,000 take it about a minute on 2 cores, 5,000 over two (the
 * single-row appends slow down as the table grows). Pull could take more, but a ratio is only
 * fair on the same N; and the emulator keeps a thread per ordering key (see measureSide), so
 * 20,000 entities would also be 20,000 threads in it.
 */
const FULL = { messages: 2_000, warmup: 500 } as const;
const QUICK = { messages: 100, warmup: 20 } as const;
/** Diagnosis only: another N (e.g. to profile pull on more messages); figures are then not comparable. */
const MESSAGES_ENV = 'BENCH_PUBSUB_MESSAGES';
const PROJECT = 'changefeed-bench';
/** terraform/variables.tf's push_ack_deadline_seconds default; the pull client extends its leases itself. */
const ACK_DEADLINE_S = 60;
/** Linux reports CPU in /proc in USER_HZ, 100 per second on every architecture Node runs on. */
const MS_PER_TICK = 10;

type Side = 'pull' | 'push';

interface SideRun {
  /** From the start of consumption until the last of the N rows was durable. */
  readonly ms: number;
  /** Appends to `<table>_changes` (pull batches; push group commits). */
  readonly appends: number;
  /** Rows beyond one per event: redeliveries that were stored again. */
  readonly duplicates: number;
  /** CPU of the emulator while consuming, in cores; undefined when it is not ours (PUBSUB_EMULATOR_HOST). */
  readonly emulatorCores: number | undefined;
  /** CPU of this process while consuming (consumer or loader app, DuckDB's threads included), in cores. */
  readonly benchCores: number;
  /** Setup, before the clock starts: the N messages published with the poller's publisher. */
  readonly publishPerS: number;
}

type PairRun = Readonly<Record<Side, SideRun>>;

/** What both sides need, loaded on first use: importing the Pub/Sub client takes most of a second. */
interface Modules {
  readonly PubSub: typeof PubSub;
  readonly gcp: typeof GcpAdapters;
  readonly loader: typeof LoaderModule;
}

/**
 * The same N change events from a Pub/Sub emulator into DuckDB, taken two ways by the real loader:
 * pull (StreamingPull through PubSubPullConsumer into the batch loader) and push (the emulator
 * POSTs each message to the loader app, group commit). Each measurement gets a fresh emulator,
 * unless PUBSUB_EMULATOR_HOST names one. The target is on the ratio of the two rates.
 */
export async function benchPubSubDelivery(options: BenchOptions): Promise<SectionResult> {
  const title = 'Pub/Sub delivery on the emulator: pull (StreamingPull, batches) vs push (HTTP, group commit)';
  const externalHost = nonEmpty(process.env['PUBSUB_EMULATOR_HOST']);
  const spec = pubsubEmulator();
  if (externalHost === undefined && !existsSync(spec.command)) {
    const skipped = `no Pub/Sub emulator at ${spec.command} and PUBSUB_EMULATOR_HOST is not set. ${spec.installHint}`;
    options.log(`pubsub: skipped: ${skipped}`);
    return { id: 'pubsub', title, figures: [], targets: [], notes: [], skipped };
  }
  // Every client here talks to an emulator: without this the auth library first probes for a GCE
  // metadata server, and warns on stderr when there is none (tests/global-setup.ts does the same).
  process.env['METADATA_SERVER_DETECTION'] ??= 'none';
  const sizes = options.quick ? QUICK : FULL;
  const messagesCount = messagesOverride() ?? sizes.messages;
  const runs = options.quick ? 1 : Math.min(options.runs, 3);
  const modules: Modules = {
    PubSub: (await import('@google-cloud/pubsub')).PubSub,
    gcp: await import('@changefeed/shared/adapters/gcp'),
    loader: await import('@changefeed/loader'),
  };
  const full = buildMessages(messagesCount);
  const warmup = full.slice(0, Math.min(sizes.warmup, messagesCount));

  const pairs = await repeat(runs, async (run): Promise<PairRun> => {
    const messages = run < 0 ? warmup : full;
    const measure = (side: Side): Promise<SideRun> =>
      measureSide(side, messages, { modules, externalHost, dir: options.workDir, run });
    // Alternating which goes first keeps a drift of the machine's speed out of the ratio.
    if (run % 2 === 0) {
      const pull = await measure('pull');
      return { pull, push: await measure('push') };
    }
    const push = await measure('push');
    return { push, pull: await measure('pull') };
  });
  options.log(
    `pubsub: ${messagesCount} messages; pull ${pairs.map((p) => p.pull.ms.toFixed(0)).join(', ')} ms; push ${pairs.map((p) => p.push.ms.toFixed(0)).join(', ')} ms`,
  );
  return sectionResult(title, pairs, { messagesCount, runs, externalHost, bodyBytes: median(full.map(messageBytes)) });
}

interface MeasureContext {
  readonly modules: Modules;
  readonly externalHost: string | undefined;
  readonly dir: string;
  readonly run: number;
}

/**
 * One side on its own topic and subscription (ordered, as in production), created before the
 * messages are published so that it receives them all, and consumed only once they are.
 */
async function measureSide(side: Side, messages: readonly OutboundMessage[], ctx: MeasureContext): Promise<SideRun> {
  // A fresh emulator per measurement: it keeps a thread per ordering key per ordered subscription
  // for as long as it runs (waking every second), so a reused one gets slower with every run.
  const { host, emulator } =
    ctx.externalHost === undefined ? ownEmulator(await startEmulator(pubsubEmulator())) : external(ctx.externalHost);
  const pubsub = new ctx.modules.PubSub({ projectId: PROJECT, apiEndpoint: host });
  const name = `bench-${side}-${randomUUID().slice(0, 8)}`;
  let topic: Topic | undefined;
  let subscription: Subscription | undefined;
  let warehouse: DuckDbWarehouse | undefined;
  try {
    [topic] = await pubsub.createTopic(name);
    [subscription] = await topic.createSubscription(name, {
      enableMessageOrdering: true,
      ackDeadlineSeconds: ACK_DEADLINE_S,
    });
    const publishPerS = await publish(ctx.modules, pubsub, topic.name, messages);
    warehouse = await DuckDbWarehouse.open(path.join(ctx.dir, `pubsub-${side}-${ctx.run}.duckdb`));
    const sink = new CountingSink(warehouse, messages.length);
    const deadlineMs = 60_000 + messages.length * 50;
    const consumed =
      side === 'pull'
        ? await consumeByPull(ctx.modules, pubsub, subscription, sink, deadlineMs, emulator)
        : await consumeByPush(ctx.modules, subscription, sink, deadlineMs, emulator);
    const stored = await storedRows(warehouse);
    if (stored.distinct !== messages.length) {
      throw new Error(
        `pubsub ${side}: expected ${messages.length} events in ${BENCH_TABLE}_changes, found ${stored.distinct}`,
      );
    }
    return { ...consumed, appends: sink.appends, duplicates: stored.rows - stored.distinct, publishPerS };
  } finally {
    // The subscription goes first: after a failure it may still be pushing to a loader that is
    // gone, and the emulator retries a closed endpoint without pause.
    await subscription?.delete().catch(() => undefined);
    await topic?.delete().catch(() => undefined);
    await warehouse?.close();
    await pubsub.close();
    await emulator?.stop();
  }
}

function ownEmulator(emulator: RunningEmulator): { host: string; emulator: RunningEmulator } {
  return { host: emulator.hostPort, emulator };
}

function external(host: string): { host: string; emulator: undefined } {
  return { host, emulator: undefined };
}

type Consumed = Pick<SideRun, 'ms' | 'emulatorCores' | 'benchCores'>;

/** Pull as the loader service wires it (createPullConsumer), on a client pointed at this emulator. */
async function consumeByPull(
  modules: Modules,
  pubsub: PubSub,
  subscription: Subscription,
  sink: CountingSink,
  deadlineMs: number,
  emulator: RunningEmulator | undefined,
): Promise<Consumed> {
  // createPullConsumer's settings, from the loader's defaults; it is not called itself because it
  // makes its own client from PUBSUB_EMULATOR_HOST and never closes it.
  const settings = loaderSchema.parse({}).pull;
  const logger = createSilentLogger();
  const load = modules.loader.createBatchLoader({ sink, clock: systemClock, logger });
  const consumer = new modules.gcp.PubSubPullConsumer(
    pubsub.subscription(subscription.name, {
      flowControl: {
        maxMessages: settings.maxOutstandingMessages,
        maxBytes: settings.maxOutstandingBytes,
        allowExcessMessages: false,
      },
    }),
    async (messages) => modules.loader.deliveryResults(await load(messages)),
    {
      batchMaxMessages: settings.batchMaxMessages,
      batchMaxDelayMs: settings.batchMaxDelay.totalOf('millisecond'),
      logger,
    },
  );
  const clock = new CpuClock(emulator);
  try {
    consumer.start();
    return clock.read(await sink.stored(deadlineMs, () => JSON.stringify(consumer.stats())));
  } finally {
    await consumer.close();
  }
}

/**
 * Push to the loader app listening on loopback. The subscription was created as a pull one that
 * nobody pulls, so the published messages wait in it without a delivery attempt; turning it into
 * a push subscription (modifyPushConfig) starts the clock. Pointing it at a closed endpoint
 * instead would have the emulator fail and back off, and the clock would start in a backoff.
 */
async function consumeByPush(
  modules: Modules,
  subscription: Subscription,
  sink: CountingSink,
  deadlineMs: number,
  emulator: RunningEmulator | undefined,
): Promise<Consumed> {
  const loader = modules.loader.buildLoaderApp({
    rowSink: sink,
    logger: createSilentLogger(),
    clock: systemClock,
    config: loaderSchema.parse({}),
  });
  let server: ListeningServer | undefined;
  try {
    server = await listen(loader.app, { port: 0, host: '127.0.0.1' });
    const clock = new CpuClock(emulator);
    await subscription.modifyPushConfig({ pushEndpoint: `${server.url}/pubsub/push` });
    const consumed = clock.read(await sink.stored(deadlineMs, () => JSON.stringify(loader.stats())));
    // Back to pull, so that the emulator stops pushing before the server goes.
    await subscription.modifyPushConfig({});
    return consumed;
  } finally {
    await loader.close();
    await server?.close({ force: true });
  }
}

/** Publishes in the poller's groups with its publisher (ordering, its batching); returns messages/s. */
async function publish(
  modules: Modules,
  pubsub: PubSub,
  topicName: string,
  messages: readonly OutboundMessage[],
): Promise<number> {
  const publisher = modules.gcp.PubSubEventPublisher.forTopic(pubsub, topicName, { logger: createSilentLogger() });
  const start = process.hrtime.bigint();
  try {
    for (let i = 0; i < messages.length; i += DEFAULTS.poller.publishBatchSize) {
      const outcomes = await publisher.publish(messages.slice(i, i + DEFAULTS.poller.publishBatchSize));
      const failed = outcomes.find((o) => !o.ok);
      if (failed !== undefined && !failed.ok) {
        throw new Error(`pubsub: publishing the bench messages failed: ${errorMessage(failed.error)}`);
      }
    }
    return messages.length / (elapsedMs(start) / 1000);
  } finally {
    await publisher.close();
  }
}

/**
 * The warehouse as the loader sees it, noting which events became durable: an append resolves
 * only once its rows are committed, so the Nth distinct event id seen is the moment all N rows
 * are visible in `<table>_changes`, without querying the table while the loader writes to it.
 */
class CountingSink implements RowSink {
  appends = 0;
  private readonly events = new Set<string>();
  private rejected = 0;
  private finishedAt: bigint | undefined;
  private wake: (() => void) | undefined;

  constructor(
    private readonly inner: RowSink,
    private readonly expected: number,
  ) {}

  async appendChanges(table: string, rows: readonly ChangeRow[]): Promise<void> {
    await this.inner.appendChanges(table, rows);
    this.appends += 1;
    for (const row of rows) this.events.add(row.event_id);
    if (this.finishedAt === undefined && this.events.size >= this.expected) {
      this.finishedAt = process.hrtime.bigint();
      this.wake?.();
    }
  }

  async appendRejected(rows: readonly RejectedRow[]): Promise<void> {
    await this.inner.appendRejected(rows);
    this.rejected += rows.length;
    this.wake?.();
  }

  close(): Promise<void> {
    return this.inner.close();
  }

  /**
   * Resolves with the moment every expected event was stored. A rejected message never will be,
   * so it fails at once; `deadlineMs` only turns a hang into an error that says how far it got.
   */
  async stored(deadlineMs: number, progress: () => string): Promise<bigint> {
    const deadline = Date.now() + deadlineMs;
    while (this.finishedAt === undefined) {
      if (this.rejected > 0) throw new Error(`pubsub: the loader rejected ${this.rejected} bench messages`);
      const left = deadline - Date.now();
      if (left <= 0) {
        throw new Error(
          `pubsub: ${this.events.size} of ${this.expected} events stored after ${deadlineMs} ms; ${progress()}`,
        );
      }
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.wake = undefined;
    }
    return this.finishedAt;
  }
}

/** Wall time from construction until `end`, and CPU (of this process and of the emulator) until read(). */
class CpuClock {
  private readonly start = process.hrtime.bigint();
  private readonly cpu = process.cpuUsage();
  private readonly emulatorMs: number | undefined;

  constructor(private readonly emulator: RunningEmulator | undefined) {
    this.emulatorMs = processGroupCpuMs(emulator?.pid);
  }

  read(end: bigint): Consumed {
    const ms = Number(end - this.start) / 1e6;
    const cpu = process.cpuUsage(this.cpu);
    const emulatorNow = processGroupCpuMs(this.emulator?.pid);
    return {
      ms,
      benchCores: (cpu.user + cpu.system) / 1000 / ms,
      emulatorCores:
        emulatorNow === undefined || this.emulatorMs === undefined ? undefined : (emulatorNow - this.emulatorMs) / ms,
    };
  }
}

/**
 * CPU used so far by every process of group `pgid` (the emulator's launcher script and the JVM it
 * starts), user + system, in ms; undefined without /proc or a group.
 */
function processGroupCpuMs(pgid: number | undefined): number | undefined {
  if (pgid === undefined) return undefined;
  let entries: string[];
  try {
    entries = readdirSync('/proc');
  } catch {
    return undefined;
  }
  let ticks = 0;
  for (const entry of entries) {
    if (!/^\d+$/.test(entry)) continue;
    let stat: string;
    try {
      stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
    } catch {
      continue; // gone since the listing
    }
    // proc(5): the command (field 2) may hold spaces and parentheses, so count from its last ')':
    // then field 3 (state) is fields[0], pgrp (5) fields[2], utime (14) and stime (15) fields[11..12].
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    if (Number(fields[2]) !== pgid) continue;
    ticks += Number(fields[11]) + Number(fields[12]);
  }
  return ticks * MS_PER_TICK;
}

async function storedRows(warehouse: DuckDbWarehouse): Promise<{ rows: number; distinct: number }> {
  const [row] = await warehouse.query(
    `SELECT count(*) AS "rows", count(DISTINCT event_id) AS "distinct" FROM "${BENCH_TABLE}_changes"`,
  );
  return { rows: Number(row?.['rows'] ?? 0), distinct: Number(row?.['distinct'] ?? 0) };
}

function messageBytes(m: OutboundMessage): number {
  let bytes = m.data.length;
  for (const [name, value] of Object.entries(m.attributes)) bytes += Buffer.byteLength(name) + Buffer.byteLength(value);
  return bytes;
}

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value === '' ? undefined : value;
}

function messagesOverride(): number | undefined {
  const raw = nonEmpty(process.env[MESSAGES_ENV]);
  if (raw === undefined) return undefined;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1) throw new Error(`${MESSAGES_ENV}: expected a whole number >= 1, got "${raw}"`);
  return n;
}

function sectionResult(
  title: string,
  pairs: readonly PairRun[],
  run: {
    readonly messagesCount: number;
    readonly runs: number;
    readonly externalHost: string | undefined;
    readonly bodyBytes: number;
  },
): SectionResult {
  const n = run.messagesCount;
  const rates = (side: Side): number[] => pairs.map((p) => n / (p[side].ms / 1000));
  const pullRates = rates('pull');
  const pushRates = rates('push');
  const ratios = pullRates.map((r, i) => r / (pushRates[i] ?? Number.NaN));
  const ratio = median(ratios);
  const figure = (label: string, unit: string, samples: readonly number[]): Figure => ({
    label,
    value: median(samples),
    unit,
    samples,
  });
  const cores = (side: Side, of: 'emulatorCores' | 'benchCores'): number[] | undefined => {
    const samples = pairs.map((p) => p[side][of]);
    return samples.every((s): s is number => s !== undefined) ? samples : undefined;
  };
  const figures: Figure[] = [
    figure(
      `pull: consumer start → ${n.toLocaleString('en')} rows visible`,
      'ms',
      pairs.map((p) => p.pull.ms),
    ),
    figure('pull rate', 'msg/s', pullRates),
    figure(
      `push: push enabled → ${n.toLocaleString('en')} rows visible`,
      'ms',
      pairs.map((p) => p.push.ms),
    ),
    figure('push rate', 'msg/s', pushRates),
    figure('pull / push', 'x', ratios),
    figure(
      'pull: appends (batches)',
      'appends',
      pairs.map((p) => p.pull.appends),
    ),
    figure(
      'push: appends (group commits)',
      'appends',
      pairs.map((p) => p.push.appends),
    ),
  ];
  for (const side of ['pull', 'push'] as const) {
    const emulator = cores(side, 'emulatorCores');
    if (emulator !== undefined) figures.push(figure(`${side}: emulator CPU while consuming`, 'cores', emulator));
    const bench = cores(side, 'benchCores') ?? [];
    figures.push(figure(`${side}: loader process CPU while consuming (DuckDB included)`, 'cores', bench));
  }
  figures.push(
    figure(
      'publish rate (setup, before the clock starts)',
      'msg/s',
      pairs.flatMap((p) => [p.pull.publishPerS, p.push.publishPerS]),
    ),
  );
  const duplicates = pairs.reduce((sum, p) => sum + p.pull.duplicates + p.push.duplicates, 0);
  const pull = loaderSchema.parse({}).pull;
  return {
    id: 'pubsub',
    title,
    figures,
    targets: [target('pull ≥ 10× push messages/s into DuckDB (Pub/Sub emulator)', ratio, 10, 'min')],
    notes: [
      `${n.toLocaleString('en')} cart updates (one per entity and ordering key, ~${Math.round(run.bodyBytes)} bytes of data and attributes) published with the poller's PubSubEventPublisher to a topic whose ordered subscription (ack deadline ${ACK_DEADLINE_S} s) exists before the first publish; the clock starts when consumption does and stops when the last of the ${n.toLocaleString('en')} events is durable in ${BENCH_TABLE}_changes (its append resolved), and every run checks the table holds each event`,
      `pull: PubSubPullConsumer with the loader's defaults (flow control ${pull.maxOutstandingMessages} messages, batches of up to ${pull.batchMaxMessages} or ${pull.batchMaxDelay.toString()}) into the batch loader; push: the subscription, created as a pull one nobody pulls, is turned into a push subscription to the loader app (buildLoaderApp, default group commit) on loopback when the clock starts, so no delivery was attempted before`,
      "the emulator pushes one message at a time per subscription (take one, POST it on a new connection, wait for the answer, ack, next), where Pub/Sub keeps many pushes in flight: every push is then a group commit of one row, whose DuckDB append and _current upsert alone take about 15–20 ms of DuckDB's CPU on 2 cores, most of each push. So the push figure is the loader fed one push at a time, not what Pub/Sub's concurrent pushes get (see the loader section for that), and the ratio is how much faster a backlog drains by pull on the emulator",
      run.externalHost === undefined
        ? 'each measurement on a fresh emulator, because it keeps a thread per ordering key of an ordered subscription until it exits (each waking every second): its CPU while consuming includes them'
        : `the emulator at PUBSUB_EMULATOR_HOST (${run.externalHost}), shared by every measurement: it keeps a thread per ordering key of an ordered subscription until it exits, so later measurements run beside the earlier ones' threads; its CPU is not measured`,
      `median of ${run.runs} run(s) after a warm-up (a smaller N); pull and push alternate which goes first; ratios are taken run by run${duplicates > 0 ? `; ${duplicates} redelivered message(s) were stored twice` : ''}`,
    ],
  };
}
