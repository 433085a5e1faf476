import {
  currentRecords,
  diffSnapshot,
  hashRecord,
  legacyHashRecord,
  prepareRecords,
  reconcilePending,
} from '@changefeed/shared/change';
import type { SnapshotEntry } from '@changefeed/shared/ports';
import { generateCart, generateProducts, type Cart } from '@changefeed/cli';
import { target, type BenchOptions, type Figure, type SectionResult } from './bench-types';
import { elapsedMs, median, repeat } from './measure';

const SEED = 7;
/** The poller's page size in the end-to-end benchmark, so JSON.parse sees pages of the same size. */
const PAGE_SIZE = 1000;

interface Workload {
  /** The current state as the API would serve it, one JSON text per page. */
  readonly pages: readonly string[];
  /** The stored index, as the snapshot store loads it: the previous state's hashes and versions. */
  readonly snapshot: ReadonlyMap<string, SnapshotEntry>;
  readonly bytes: number;
  readonly expected: { readonly created: number; readonly updated: number; readonly deleted: number };
}

/**
 * The previous state is `n` demo carts; the current one changes 10% of them, drops 1% and adds 1%
 * new ones, spread over the id range as a live shop would.
 */
export function diffWorkload(n: number): Workload {
  const products = generateProducts(SEED);
  const snapshot = new Map<string, SnapshotEntry>();
  const current: Cart[] = [];
  let created = 0;
  let updated = 0;
  let deleted = 0;
  for (let id = 1; id <= n; id++) {
    const cart = generateCart(SEED, id, products);
    snapshot.set(String(id), { hash: hashRecord(cart), version: 1, deleted: false });
    if (id % 100 === 50) {
      deleted += 1;
      continue;
    }
    if (id % 10 === 3) {
      updated += 1;
      current.push({
        ...cart,
        status: cart['status'] === 'paid' ? 'shipped' : 'paid',
        updatedAt: '2024-06-01T00:00:00.000Z',
      });
    } else current.push(cart);
  }
  for (let id = n + 1; id <= n + Math.round(n / 100); id++) {
    current.push(generateCart(SEED, id, products));
    created += 1;
  }
  const pages: string[] = [];
  let bytes = 0;
  for (let i = 0; i < current.length; i += PAGE_SIZE) {
    const text = JSON.stringify({ carts: current.slice(i, i + PAGE_SIZE) });
    pages.push(text);
    bytes += Buffer.byteLength(text);
  }
  return { pages, snapshot, bytes, expected: { created, updated, deleted } };
}

function parsePages(pages: readonly string[]): unknown[] {
  const records: unknown[] = [];
  for (const text of pages) {
    for (const record of (JSON.parse(text) as { carts: unknown[] }).carts) records.push(record);
  }
  return records;
}

interface RunTimes {
  readonly parseMs: number;
  readonly prepareMs: number;
  readonly hashMs: number;
  readonly diffMs: number;
  readonly legacyHashMs: number;
}

/**
 * What one poll does between receiving its pages and publishing, timed step by step with the
 * poller's own functions: key the records (prepareRecords), hash them (currentRecords), diff them
 * against the stored index and reconcile pending events (diffSnapshot, reconcilePending).
 * JSON.parse of the same pages is the baseline: the cost of merely reading the data.
 */
function measureOnce(workload: Workload): RunTimes {
  let start = process.hrtime.bigint();
  const raw = parsePages(workload.pages);
  const parseMs = elapsedMs(start);

  start = process.hrtime.bigint();
  const prepared = prepareRecords(raw, 'id');
  const prepareMs = elapsedMs(start);

  start = process.hrtime.bigint();
  const current = currentRecords(prepared.records, prepared.ids);
  const hashMs = elapsedMs(start);

  start = process.hrtime.bigint();
  const diff = reconcilePending(diffSnapshot(current, workload.snapshot), current, workload.snapshot, new Map());
  const diffMs = elapsedMs(start);

  const { created, updated, deleted } = diff.counts;
  const want = workload.expected;
  if (created !== want.created || updated !== want.updated || deleted !== want.deleted) {
    throw new Error(
      `diff found ${created}/${updated}/${deleted} created/updated/deleted, expected ${want.created}/${want.updated}/${want.deleted}`,
    );
  }

  // The first hash format, for the record of what the change to the current one bought.
  start = process.hrtime.bigint();
  for (const record of prepared.records) legacyHashRecord(record);
  const legacyHashMs = elapsedMs(start);

  return { parseMs, prepareMs, hashMs, diffMs, legacyHashMs };
}

export async function benchDiffEngine(options: BenchOptions): Promise<SectionResult> {
  const n = options.quick ? 2_000 : 100_000;
  options.log(`diff: generating ${n} carts`);
  const workload = diffWorkload(n);
  const records = workload.expected.created + n - workload.expected.deleted;
  const runs = await repeat(options.runs, (run) => {
    const times = measureOnce(workload);
    if (run >= 0) options.log(`diff: run ${run + 1}/${options.runs}: parse ${times.parseMs.toFixed(0)} ms`);
    return times;
  });
  const pick = (key: keyof RunTimes): number[] => runs.map((r) => r[key]);
  const totals = runs.map((r) => r.prepareMs + r.hashMs + r.diffMs);
  const ratios = runs.map((r) => (r.prepareMs + r.hashMs + r.diffMs) / r.parseMs);
  const parseMs = median(pick('parseMs'));
  const totalMs = median(totals);
  const ratio = median(ratios);
  const ms = (label: string, samples: number[]): Figure => ({ label, value: median(samples), unit: 'ms', samples });
  const figures: Figure[] = [
    ms('JSON.parse of the pages (baseline)', pick('parseMs')),
    { label: 'JSON.parse rate', value: records / (parseMs / 1000), unit: 'records/s' },
    ms('key + hash + diff (total)', totals),
    { label: 'key + hash + diff rate', value: records / (totalMs / 1000), unit: 'records/s' },
    { label: 'key + hash + diff / JSON.parse', value: ratio, unit: 'x', samples: ratios },
    ms('  of which keying (prepareRecords)', pick('prepareMs')),
    ms('  of which hashing (hashRecord)', pick('hashMs')),
    ms('  of which diff + pending (diffSnapshot)', pick('diffMs')),
    ms('first hash format (MD5 of canonical JSON), hashing alone', pick('legacyHashMs')),
    {
      label: 'hashing, first format / current',
      value: median(runs.map((r) => r.legacyHashMs / r.hashMs)),
      unit: 'x',
    },
  ];
  return {
    id: 'diff',
    title: 'Diff engine vs the cost of reading the data',
    figures,
    targets: [target('hash + diff ≤ 1× JSON.parse of the same payload', ratio, 1, 'max')],
    notes: [
      `${records.toLocaleString('en')} records (${(workload.bytes / records).toFixed(0)} B each, pages of ${PAGE_SIZE}) against an index of ${n.toLocaleString('en')}: ${workload.expected.updated} updated, ${workload.expected.deleted} deleted, ${workload.expected.created} new; counts checked every run`,
      `median of ${options.runs} runs after a warm-up; ratios are taken run by run, then the median`,
    ],
  };
}
