import type { SourceConfig } from '../config';
import type { Logger } from '../log';
import type { Clock } from '../ports';
import { createAuth } from './auth/registry';
import type { Environment } from './auth/source-auth';
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
  const auth = createAuth(source.auth, {
    sourceName: source.name,
    env: deps.env,
    clock: deps.clock,
    logger: deps.logger.child({ source: source.name }),
  });
  return new HttpSourceClient(source, auth, deps);
}

/** The clients of several sources by name, closed together. */
export interface SourceClients {
  readonly byName: ReadonlyMap<string, HttpSourceClient>;
  /** Aborts every client's requests in flight; idempotent. */
  close(): void;
}

/**
 * One client per source of `sources`. A missing credential of any source throws before the
 * caller opens anything else, and the clients made before it are closed.
 */
export function createSourceClients(sources: readonly SourceConfig[], deps: SourceClientDeps): SourceClients {
  const byName = new Map<string, HttpSourceClient>();
  const close = (): void => {
    for (const client of byName.values()) client.close();
  };
  try {
    for (const source of sources) byName.set(source.name, createSourceClient(source, deps));
  } catch (e: unknown) {
    close();
    throw e;
  }
  return { byName, close };
}
