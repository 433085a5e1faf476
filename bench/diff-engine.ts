import { hashRecord, legacyHashRecord, SnapshotDiffer } from '@changefeed/shared/change';
import type { SnapshotEntry } from '@changefeed/shared/ports';
import { generateCart, generateProducts, type Cart } from '@changefeed/demo-api';
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

interface RunTimes {
  readonly parseMs: number;
  readonly diffMs: number;
  readonly hashMs: number;
  readonly legacyHashMs: number;
}

/**
 * What one poll does with its pages, with the poller's own class: each page is parsed (the
 * baseline, timed apart) and handed to a SnapshotDiffer, which keys, hashes and compares its
 * records with the stored index; `finish` adds the deletions and reconciles pending events.
 */
function measureOnce(workload: Workload): RunTimes {
  const differ = new SnapshotDiffer(workload.snapshot, new Map(), 'id');
  const records: unknown[] = [];
  let parseNs = 0n;
  let diffNs = 0n;
  for (const text of workload.pages) {
    const parsedAt = process.hrtime.bigint();
    const page = (JSON.parse(text) as { carts: unknown[] }).carts;
    const diffAt = process.hrtime.bigint();
    differ.addPage(page);
    parseNs += diffAt - parsedAt;
    diffNs += process.hrtime.bigint() - diffAt;
    for (const record of page) records.push(record);
  }
  let start = process.hrtime.bigint();
  const diff = differ.finish();
  diffNs += process.hrtime.bigint() - start;

  const { created, updated, deleted } = diff.counts;
  const want = workload.expected;
  if (created !== want.created || updated !== want.updated || deleted !== want.deleted) {
    throw new Error(
      `diff found ${created}/${updated}/${deleted} created/updated/deleted, expected ${want.created}/${want.updated}/${want.deleted}`,
    );
  }

  // Hashing alone, and the first hash format, for the record of what the current one bought.
  start = process.hrtime.bigint();
  for (const record of records) hashRecord(record);
  const hashMs = elapsedMs(start);
  start = process.hrtime.bigint();
  for (const record of records) legacyHashRecord(record);
  const legacyHashMs = elapsedMs(start);

  return { parseMs: Number(parseNs) / 1e6, diffMs: Number(diffNs) / 1e6, hashMs, legacyHashMs };
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
  const totals = pick('diffMs');
  const ratios = runs.map((r) => r.diffMs / r.parseMs);
  const parseMs = median(pick('parseMs'));
  const totalMs = median(totals);
  const ratio = median(ratios);
  const ms = (label: string, samples: number[]): Figure => ({ label, value: median(samples), unit: 'ms', samples });
  const figures: Figure[] = [
    ms('JSON.parse of the pages (baseline)', pick('parseMs')),
    { label: 'JSON.parse rate', value: records / (parseMs / 1000), unit: 'records/s' },
    ms('key + hash + diff (SnapshotDiffer, whole poll)', totals),
    { label: 'key + hash + diff rate', value: records / (totalMs / 1000), unit: 'records/s' },
    { label: 'key + hash + diff / JSON.parse', value: ratio, unit: 'x', samples: ratios },
    ms('  hashing alone (hashRecord, a separate pass)', pick('hashMs')),
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
