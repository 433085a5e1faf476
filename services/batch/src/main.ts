import { loadServiceConfig } from '@changefeed/shared/adapters/gcp';
import { openServiceBackend } from '@changefeed/shared/backend';
import { isConfigProblem, parseServiceEnv } from '@changefeed/shared/config';
import { errorMessage } from '@changefeed/shared/errors';
import { createLogger, logProcessWarnings } from '@changefeed/shared/log';
import { systemClock } from '@changefeed/shared/ports';
import { createSourceClient } from '@changefeed/shared/source';
import { runBatchJob } from './batch-job';

/**
 * The batch job on Cloud Run Jobs: every `mode: batch` source once, then exit 1 if any failed so
 * the execution shows as failed and Cloud Scheduler's next run tries again. SIGTERM aborts the
 * fetch in flight; nothing half-loaded is written (loads are atomic).
 */
async function main(): Promise<void> {
  const env = parseServiceEnv({ PORT: '8080', ...process.env });
  const logger = createLogger('batch', { level: env.LOG_LEVEL });
  logProcessWarnings(process, logger);
  // The variables its batch sources' auth names are checked here, so an unset one fails the
  // execution at once with its place in the file (exit 2), before anything is opened.
  const config = await loadServiceConfig(env.CHANGEFEED_CONFIG, { env: process.env, sourceModes: ['batch'] });
  const backend = await openServiceBackend(
    { config, env: process.env, clock: systemClock, logger, dataDir: '.' },
    'batch',
    env.CHANGEFEED_CONFIG,
  );
  const [warehouse, state] = await Promise.all([backend.warehouse(), backend.snapshots()]);
  const stop = new AbortController();
  process.on('SIGTERM', () => stop.abort(new Error('SIGTERM')));
  const result = await runBatchJob(
    {
      loader: warehouse,
      runLog: warehouse,
      state,
      clock: systemClock,
      logger,
      createSourceClient: (source) => createSourceClient(source, { env: process.env, clock: systemClock, logger }),
    },
    config.sources,
    { signal: stop.signal },
  );
  await backend.close();
  process.exit(result.failed ? 1 : 0);
}

main().catch((e: unknown) => {
  process.stderr.write(
    `${JSON.stringify({ severity: 'ERROR', component: 'batch', message: `failed: ${errorMessage(e)}` })}\n`,
  );
  // 2 for a config that cannot work (file, environment, project), as the CLI does; 1 otherwise.
  process.exit(isConfigProblem(e) ? 2 : 1);
});
