import { loadServiceConfig } from '@changefeed/shared/adapters/gcp';
import { openServiceBackend } from '@changefeed/shared/backend';
import { assertPushAuthenticated, isConfigProblem, parseServiceEnv } from '@changefeed/shared/config';
import { errorMessage } from '@changefeed/shared/errors';
import { listen } from '@changefeed/shared/http';
import { createLogger, logProcessWarnings } from '@changefeed/shared/log';
import { systemClock } from '@changefeed/shared/ports';
import { buildLoaderApp } from './app';
import { openPullLoader } from './pull-loader';
import { tableAllowlist } from './table-allowlist';

/**
 * The loader on Cloud Run: Pub/Sub push in, BigQuery Storage Write out. SIGTERM (Cloud Run gives
 * 10 s) stops accepting requests, answers the ones in flight once their rows are appended, exits 0.
 */
async function main(): Promise<void> {
  const env = parseServiceEnv(process.env);
  const logger = createLogger('loader', { level: env.LOG_LEVEL });
  logProcessWarnings(process, logger);
  const config = await loadServiceConfig(env.CHANGEFEED_CONFIG);
  // Before anything is opened: a push endpoint nobody authenticates is not started at all.
  assertPushAuthenticated(config, env.CHANGEFEED_CONFIG);
  const backend = await openServiceBackend(
    { config, env: process.env, clock: systemClock, logger, dataDir: '.' },
    'loader',
    env.CHANGEFEED_CONFIG,
  );
  const warehouse = await backend.warehouse();
  const acceptPush = config.loader.delivery === 'push';
  if (!acceptPush) {
    logger.info('loader.delivery is pull: POST /pubsub/push is off; /healthz serves the probes');
  } else if (config.loader.auth === undefined) {
    logger.warn('loader.allowUnauthenticatedPush is true: push requests are accepted without an OIDC token check');
  }
  const loader = buildLoaderApp({
    acceptPush,
    rowSink: warehouse,
    logger,
    clock: systemClock,
    config: config.loader,
    authenticate: backend.pushAuthenticator(),
    tables: tableAllowlist(config.sources),
    payloads: { store: await backend.payloads(), setting: backend.payloadStoreSetting },
  });
  const server = await listen(loader.app, { port: env.PORT, host: '0.0.0.0' });
  logger.info('loader listening', {
    url: server.url,
    projectId: backend.projectId,
    dataset: config.gcp.bigquery.dataset,
  });
  // `loader.delivery: pull`: batches from the pull subscription into the same warehouse.
  const pull =
    config.loader.delivery === 'pull'
      ? await openPullLoader(backend, config, logger.child({ component: 'loader' }))
      : undefined;
  pull?.start();

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
      await backend.close();
      process.exit(0);
    })();
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

main().catch((e: unknown) => {
  process.stderr.write(
    `${JSON.stringify({ severity: 'ERROR', component: 'loader', message: `cannot start: ${errorMessage(e)}` })}\n`,
  );
  // 2 for a config that cannot work (file, environment, project), as the CLI does; 1 otherwise.
  process.exit(isConfigProblem(e) ? 2 : 1);
});
