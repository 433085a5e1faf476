import { target, type BenchOptions, type SectionResult } from './bench-types';
import { childScript, median, runNodeChild } from './measure';

interface IndexMemoryReport {
  readonly entities: number;
  readonly heapBytes: number;
  readonly bytesPerEntity: number;
  readonly rssBytesPerEntity: number;
  readonly payloadBytesPerEntity: number;
}

/**
 * Bytes per entity of the snapshot index as the poller holds it during a cycle (the map
 * `SnapshotStore.load` returns), at 1,000,000 entities, each count in a fresh process. Heap
 * figures are deterministic enough that three runs suffice.
 */
export async function benchIndexMemory(options: BenchOptions): Promise<SectionResult> {
  const entities = options.quick ? 20_000 : 1_000_000;
  const runs = Math.min(options.runs, 3);
  const reports: IndexMemoryReport[] = [];
  for (let run = 0; run < runs; run++) {
    const { result } = await runNodeChild<IndexMemoryReport>(
      childScript('index-memory-child'),
      ['--entities', String(entities)],
      { nodeArgs: ['--expose-gc'] },
    );
    options.log(`index: run ${run + 1}/${runs}: ${result.bytesPerEntity.toFixed(1)} B/entity`);
    reports.push(result);
  }
  const perEntity = reports.map((r) => r.bytesPerEntity);
  const bytesPerEntity = median(perEntity);
  const payload = median(reports.map((r) => r.payloadBytesPerEntity));
  return {
    id: 'index',
    title: 'Memory of the snapshot index',
    figures: [
      { label: 'heap per entity (loaded index)', value: bytesPerEntity, unit: 'B/entity', samples: perEntity },
      { label: 'RSS growth per entity', value: median(reports.map((r) => r.rssBytesPerEntity)), unit: 'B/entity' },
      { label: 'the entry itself (id + hash characters + 8-byte version)', value: payload, unit: 'B/entity' },
      { label: 'heap / entry itself', value: bytesPerEntity / payload, unit: 'x' },
    ],
    targets: [target('snapshot index ≤ 200 bytes per entity', bytesPerEntity, 200, 'max')],
    notes: [
      `${entities.toLocaleString('en')} entities (1% tombstones) loaded from the SQLite snapshot store in a fresh process, heap measured after a full GC before and after the load; ${runs} run(s)`,
    ],
  };
}
