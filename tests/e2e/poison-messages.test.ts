import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseConfig } from '@changefeed/shared/config';
import { changeToMessage, eventId } from '@changefeed/shared/events';
import { createSilentLogger } from '@changefeed/shared/log';
import { systemClock } from '@changefeed/shared/ports';
import { LocalPipeline } from '@changefeed/pipeline';
import { dataDirLayout } from '@changefeed/pipeline';
import { configYaml } from './e2e-support';

describe('poison messages in the local pipeline', () => {
  let dir: string;
  let pipeline: LocalPipeline;
  /** The loader takes pushes only from its bus: these carry the bus's secret. */
  let authorization: string;

  beforeEach(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'changefeed-poison-'));
    const layout = dataDirLayout(dir, 'data');
    pipeline = await LocalPipeline.open({
      config: parseConfig(configYaml('http://127.0.0.1:9', ''), 'test.yaml'),
      layout,
      env: {},
      clock: systemClock,
      logger: createSilentLogger(),
    });
    authorization = `Bearer ${(await readFile(layout.pushSecretFile, 'utf8')).trim()}`;
  });

  afterEach(async () => {
    await pipeline.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('a push body that can never be valid is acked and kept in _rejected with the reason, and the loader keeps serving', async () => {
    const poison = await fetch(`${pipeline.loaderUrl}/pubsub/push`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization },
      body: '{"message": {"data": "not base64!", "messageId": "m-1"',
    });
    expect(poison.status).toBe(204);
    const wrongShape = await fetch(`${pipeline.loaderUrl}/pubsub/push`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization },
      body: JSON.stringify({
        message: { messageId: 'm-2', publishTime: '2024-01-01T00:00:00Z', attributes: {} },
        subscription: 's',
      }),
    });
    expect(wrongShape.status).toBe(204);
    const rejected = await pipeline.warehouse.query(
      'select message_id, reason from _rejected order by message_id nulls first',
    );
    expect(rejected.map((r) => r['message_id'])).toEqual([null, 'm-2']);
    expect(String(rejected[0]?.['reason'])).toMatch(/JSON/);
    expect(String(rejected[1]?.['reason'])).toContain('not a CloudEvent');
    expect((await fetch(`${pipeline.loaderUrl}/healthz`)).status).toBe(200);
  });

  it('when the loader cannot store a message, the bus retries, then dead-letters it with the message and the last error kept', async () => {
    // A table whose schema drifted: every append to it fails, whatever the retry.
    // (A configured table: the loader rejects events for any other.)
    await pipeline.warehouse.query('create or replace table carts_changes (x integer)');
    const message = changeToMessage({
      id: eventId('carts', '1', 1, 'created', 'h'),
      type: 'created',
      source: 'carts',
      table: 'carts',
      entityId: '1',
      version: 1,
      time: new Date('2024-06-01T00:00:00Z'),
      record: { id: 1 },
    });
    const [outcome] = await pipeline.bus.publish([message]);
    expect(outcome?.ok).toBe(true);
    await pipeline.bus.waitUntilIdle();
    const dead = (await pipeline.bus.list({ limit: 10 })).letters;
    expect(dead).toHaveLength(1);
    expect(dead[0]).toMatchObject({ orderingKey: 'carts/1', deliveryAttempts: 3 });
    expect(dead[0]?.attributes['ce-id']).toBe(message.id);
    expect(dead[0]?.data.equals(message.data)).toBe(true);
    // Batch delivery (the default): the loader's own error, naming the table.
    expect(dead[0]?.lastError).toContain('appending 1 rows to "carts_changes" failed');
    expect(pipeline.bus.stats().deadLettered).toBe(1);
  });
});
