import type { SourceConfig } from '../config';
import type { Logger } from '../log';
import type { Clock } from '../ports';
import { resolveAuth, type Environment } from './auth';
import { HttpSourceClient } from './http-source-client';

export interface SourceClientDeps {
  /** Where auth's variables are read; the composition root passes process.env. */
  readonly env: Environment;
  readonly clock: Clock;
  readonly logger: Logger;
  /** Jitter source, [0, 1); Math.random unless a test pins it. */
  readonly random?: () => number;
  /** Longest `Retry-After` honoured; DEFAULTS.source.request.maxRetryAfter unless given. */
  readonly maxRetryAfterMs?: number;
}

/**
 * The client for one source. Throws SOURCE.MISSING_CREDENTIAL right away when a variable that
 * `source.auth` names is unset, so a misconfigured deployment fails at start-up.
 */
export function createSourceClient(source: SourceConfig, deps: SourceClientDeps): HttpSourceClient {
  const auth = resolveAuth(source.name, source.auth, deps.env);
  return new HttpSourceClient(source, auth, deps);
}
