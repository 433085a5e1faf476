import {
  createBigQueryWarehouse,
  createPullConsumer,
  createPushAuthenticator,
  loadServiceConfig,
  resolveProjectId,
  type PubSubPullConsumer,
} from '@changefeed/shared/adapters/gcp';
import { parseServiceEnv, type Config } from '@changefeed/shared/config';
import { errorMessage } from '@changefeed/shared/errors';
import { listen } from '@changefeed/shared/http';
import { createLogger, type Logger } from '@changefeed/shared/log';
import { systemClock, type RowSink } from '@changefeed/shared/ports';
import { buildLoaderApp } from './app';
import { createBatchLoader, deliveryResults } from './batch-loader';

/**
 * The loader on Cloud Run: Pub/Sub push in, BigQuery Storage Write out. SIGTERM (Cloud Run gives
 * 10 s) stops accepting requests, answers the ones in flight once their rows are appended, exits 0.
 */
async function main(): Promise<void> {
  const env = parseServiceEnv(process.env);
  const logger = createLogger('loader', { level: env.LOG_LEVEL });
  const config = await loadServiceConfig(env.CHANGEFEED_CONFIG);
  const projectId = resolveProjectId(config, process.env);
  const warehouse = createBigQueryWarehouse(config, projectId, process.env, logger.child({ module: 'warehouse' }));
  if (config.loader.auth === undefined) {
    logger.warn('loader.auth is not set: push requests are accepted without an OIDC token check');
  }
  const loader = buildLoaderApp({
    rowSink: warehouse,
    logger,
    clock: systemClock,
    config: config.loader,
    authenticate:
      config.loader.auth === undefined ? undefined : createPushAuthenticator(config.loader.auth, { logger }),
  });
  const server = await listen(loader.app, { port: env.PORT, host: '0.0.0.0' });
  logger.info('loader listening', { url: server.url, projectId, dataset: config.gcp.bigquery.dataset });
  const pull = config.loader.delivery === 'pull' ? startPull(config, projectId, warehouse, logger) : undefined;

  let stopping = false;
  const stop = (signal: string): void => {
    if (stopping) process.exit(1);
    stopping = true;
    logger.info('stopping', { signal });
    void (async () => {
      // Pull: stop taking messages, load and ack what was taken, close the stream.
      await pull?.close();
      await server.close();
      await loader.close();
      await warehouse.close();
      process.exit(0);
    })();
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

/** `loader.delivery: pull`: batches from the pull subscription into the warehouse. */
function startPull(config: Config, projectId: string, warehouse: RowSink, logger: Logger): PubSubPullConsumer {
  const load = createBatchLoader({ sink: warehouse, clock: systemClock, logger });
  const consumer = createPullConsumer(
    config,
    projectId,
    async (messages) => deliveryResults(await load(messages)),
    logger.child({ module: 'pull' }),
  );
  consumer.start();
  logger.info('loader pulling', {
    subscription: config.loader.pull.subscription,
    batchMaxMessages: config.loader.pull.batchMaxMessages,
  });
  return consumer;
}

main().catch((e: unknown) => {
  process.stderr.write(
    `${JSON.stringify({ severity: 'ERROR', component: 'loader', message: `cannot start: ${errorMessage(e)}` })}\n`,
  );
  process.exit(1);
});
