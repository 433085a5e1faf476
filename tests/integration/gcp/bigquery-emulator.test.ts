import { randomUUID } from 'node:crypto';
import { changeRow } from '../../contract/row-sink.contract';
import { bigqueryQuery, BIGQUERY_PROJECT } from '../../support/bigquery-rest';
import { openEmulatorWarehouse } from '../../support/bigquery-emulator-clients';

/** Fails instead of hanging when the emulator stops answering. */
function answered<T>(work: Promise<T>, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const silence = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`the BigQuery emulator stopped answering (${what})`)), 30_000);
  });
  return Promise.race([work, silence]).finally(() => clearTimeout(timer));
}

/**
 * The harness's BigQuery emulator (tests/emulators/bqemulator-single-thread): unpatched, a
 * Storage Write append that overlaps a query deadlocks bqemulator for good, within a few dozen
 * appends here. The loader appends while the poller, other jest workers and tests query.
 */
describe('BigQuery emulator', () => {
  it('keeps answering queries while Storage Write appends run', async () => {
    const dataset = `emu_${randomUUID().replaceAll('-', '').slice(0, 10)}`;
    const warehouse = openEmulatorWarehouse(dataset);
    const appends = 150;
    try {
      await answered(warehouse.appendChanges('t', [changeRow('t', { entity: '0', version: 1 })]), 'first append');
      let appending = true;
      const appender = (async () => {
        try {
          for (let i = 1; i < appends; i++) {
            await answered(warehouse.appendChanges('t', [changeRow('t', { entity: String(i), version: 1 })]), 'append');
          }
        } finally {
          appending = false;
        }
      })();
      let queries = 0;
      const reader = (async () => {
        while (appending) {
          await answered(bigqueryQuery(`select count(*) from \`${BIGQUERY_PROJECT}.${dataset}.t_current\``), 'query');
          queries += 1;
        }
      })();
      await Promise.all([appender, reader]);

      expect(queries).toBeGreaterThan(0);
      expect(await bigqueryQuery(`select count(*) from \`${BIGQUERY_PROJECT}.${dataset}.t_changes\``)).toEqual([
        [String(appends)],
      ]);
    } finally {
      await warehouse.close();
    }
  }, 180_000);
});
