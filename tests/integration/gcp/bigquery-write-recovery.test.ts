import { randomUUID } from 'node:crypto';
import { BigQueryWarehouse, createBigQueryClients } from '@changefeed/shared/adapters/gcp';
import { AppError } from '@changefeed/shared/errors';
import { BIGQUERY_TEST_PROJECT } from '../../emulators/bigquery';
import { changeRow } from '../../contract/row-sink.contract';
import {
  EMULATOR_CURRENT_OPTIONS,
  emulatorBigqueryConfig,
  nativeBigQuerySdk,
} from '../../support/bigquery-emulator-clients';
import { TcpProxy } from '../../support/tcp-proxy';

/**
 * The Storage Write endpoint goes away and comes back (a TCP proxy in front of the emulator's gRPC
 * port is taken down and brought up again; REST stays up): the writer must reconnect by itself,
 * so that the first append after the endpoint is back lands instead of failing on a dead
 * connection or a gRPC channel still backing off.
 */
describe('BigQueryWarehouse when the Storage Write endpoint goes down and comes back', () => {
  const dataset = `rec_${randomUUID().replaceAll('-', '').slice(0, 10)}`;
  let proxy: TcpProxy;
  let warehouse: BigQueryWarehouse;

  beforeEach(async () => {
    const config = emulatorBigqueryConfig(dataset);
    proxy = await TcpProxy.start(config.storageWriteEndpoint ?? '');
    const { bigquery, writer } = createBigQueryClients(
      { ...config, storageWriteEndpoint: proxy.hostPort },
      BIGQUERY_TEST_PROJECT,
      nativeBigQuerySdk,
    );
    warehouse = new BigQueryWarehouse(bigquery, writer, {
      projectId: BIGQUERY_TEST_PROJECT,
      dataset,
      location: 'US',
      current: () => EMULATOR_CURRENT_OPTIONS,
    });
  });

  afterEach(async () => {
    await warehouse.close();
    await proxy.down();
  });

  it('an append while it is down fails retryable; the very next append once it is up lands', async () => {
    const table = `carts_${randomUUID().replaceAll('-', '').slice(0, 8)}`;
    await warehouse.appendChanges(table, [changeRow(table, { entity: 'before', version: 1 })]);

    await proxy.down();
    // Several deliveries fail while it is down, as they would under a stream of pushes; each one
    // makes the gRPC channel try to connect, and its reconnect backoff grows with every refusal.
    for (const n of [1, 2, 3]) {
      const failure: unknown = await warehouse
        .appendChanges(table, [changeRow(table, { entity: `down${n}`, version: 1 })])
        .then(
          () => undefined,
          (e: unknown) => e,
        );
      expect(failure).toBeInstanceOf(AppError);
      expect(failure).toMatchObject({ code: 'WAREHOUSE.WRITE_FAILED', retryable: true });
    }

    await proxy.up();
    await warehouse.appendChanges(table, [changeRow(table, { entity: 'after', version: 1 })]);
    const rows = await warehouse.query(`SELECT entity_id FROM \`${table}_changes\` ORDER BY entity_id`);
    expect(rows.map((r) => r['entity_id'])).toContain('after');
    expect(rows.map((r) => r['entity_id'])).toContain('before');
  });
});
