import { AppError } from '../errors';
import type { Config } from './schema';

/**
 * Why `config` may not serve Pub/Sub push, or undefined when it may: on `backend: gcp` with
 * `loader.delivery: push` the loader's `POST /pubsub/push` writes to the warehouse, so it checks
 * Pub/Sub's OIDC token (`loader.auth`) unless the config says in so many words that nobody
 * untrusted can reach it (`loader.allowUnauthenticatedPush: true`). Pull has no push endpoint,
 * and the local backend authenticates its own bus.
 *
 * Not a schema rule: the poller and the batch job read the same file and serve no push, so only
 * the loader and `changefeed config check` refuse.
 */
export function unauthenticatedPushProblem(config: Config): string | undefined {
  if (config.backend !== 'gcp' || config.loader.delivery !== 'push') return undefined;
  if (config.loader.auth !== undefined || config.loader.allowUnauthenticatedPush) return undefined;
  return (
    'loader.auth: backend: gcp with loader.delivery: push takes Pub/Sub push requests, and without loader.auth ' +
    'anyone who reaches the loader can write to the warehouse. Set loader.auth (audience and serviceAccountEmail ' +
    'of the push subscription; Terraform writes it), or loader.allowUnauthenticatedPush: true for a loader ' +
    'nothing outside the project can call'
  );
}

/** Throws `CONFIG.UNAUTHENTICATED_PUSH` naming `configFile` when `unauthenticatedPushProblem` finds one. */
export function assertPushAuthenticated(config: Config, configFile: string): void {
  const problem = unauthenticatedPushProblem(config);
  if (problem !== undefined) throw new AppError('CONFIG.UNAUTHENTICATED_PUSH', `${configFile}: ${problem}`);
}
