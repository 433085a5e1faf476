import express, { type Express } from 'express';
import type { Poller } from './poller';

/**
 * The poller's HTTP face on Cloud Run: the platform needs a listening port, and `/healthz` tells
 * an operator what each source's last cycle did. A source whose last cycle failed is reported but
 * does not fail the check: restarting the poller would not fix a source API that is down.
 */
export function buildPollerApp(poller: Pick<Poller, 'statuses'>): Express {
  const app = express();
  app.disable('x-powered-by');
  app.get('/healthz', (_req, res) => {
    res.json({
      status: 'ok',
      sources: poller.statuses().map((s) => ({
        source: s.source,
        leased: s.leased,
        cycles: s.cycles,
        failedCycles: s.failedCycles,
        lastCycle:
          s.lastCycle === null
            ? null
            : {
                runId: s.lastCycle.runId,
                status: s.lastCycle.status,
                records: s.lastCycle.records,
                published: s.lastCycle.published,
                durationMs: s.lastCycle.durationMs,
                error: s.lastCycle.error,
              },
      })),
    });
  });
  return app;
}
