import { loadServiceConfig } from '@changefeed/shared/adapters/gcp';
import { openServiceBackend } from '@changefeed/shared/backend';
import {
  FAILPOINTS,
  failpointHook,
  isConfigProblem,
  parseFailpoints,
  parseServiceEnv,
} from '@changefeed/shared/config';
import { errorMessage } from '@changefeed/shared/errors';
import { listen } from '@changefeed/shared/http';
import { createLogger, logProcessWarnings } from '@changefeed/shared/log';
import { systemClock } from '@changefeed/shared/ports';
import { buildPollerApp } from './app';
import { openPoller } from './open-poller';

/**
 * The poller on Cloud Run (one instance, CPU always allocated): polls every stream source into
 * Pub/Sub with its snapshot in Firestore. SIGTERM finishes the publish group in flight, commits
 * it, releases the leases so the next revision takes over at once, and exits 0.
 */
async function main(): Promise<void> {
  const env = parseServiceEnv(process.env);
  const logger = createLogger('poller', { level: env.LOG_LEVEL });
  logProcessWarnings(process, logger);
  // Test hook, off unless CHANGEFEED_FAILPOINT is set: the gcp e2e test kills this process between
  // a publish and its snapshot commit to prove the restarted poller re-emits and loses nothing.
  const afterPublish = failpointHook(
    parseFailpoints(process.env['CHANGEFEED_FAILPOINT']),
    FAILPOINTS.pollerAfterPublish,
    () => process.kill(process.pid, 'SIGKILL'),
  );
  // The variables its stream sources' auth names are checked here, so an unset one stops the
  // revision at start-up with its place in the file (exit 2), not at the first poll.
  const config = await loadServiceConfig(env.CHANGEFEED_CONFIG, { env: process.env, sourceModes: ['stream'] });
  const backend = await openServiceBackend(
    { config, env: process.env, clock: systemClock, logger, dataDir: '.' },
    'poller',
    env.CHANGEFEED_CONFIG,
  );
  const opened = await openPoller(backend, config, { env: process.env, clock: systemClock, logger }, { afterPublish });
  const { poller } = opened;
  const server = await listen(buildPollerApp(poller), { port: env.PORT, host: '0.0.0.0' });
  poller.start();
  logger.info('poller started', {
    url: server.url,
    projectId: backend.projectId,
    sources: poller.sources.map((s) => s.name),
  });

  let stopping = false;
  const stop = (signal: string): void => {
    if (stopping) process.exit(1);
    stopping = true;
    logger.info('stopping', { signal });
    void (async () => {
      await opened.close();
      await backend.close();
      await server.close();
      process.exit(0);
    })();
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

main().catch((e: unknown) => {
  process.stderr.write(
    `${JSON.stringify({ severity: 'ERROR', component: 'poller', message: `cannot start: ${errorMessage(e)}` })}\n`,
  );
  // 2 for a config that cannot work (file, environment, project), as the CLI does; 1 otherwise.
  process.exit(isConfigProblem(e) ? 2 : 1);
});
