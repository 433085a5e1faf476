import type { z } from 'zod';
import type { Logger } from '../../log';
import type { Clock } from '../../ports';
import { configBlock, type BlockFields, type ConfigBlock } from '../config-block';

export type Environment = Readonly<Record<string, string | undefined>>;

/** What auth adds to one request. */
export interface Credentials {
  readonly headers: Readonly<Record<string, string>>;
  readonly query: Readonly<Record<string, string>>;
}

/**
 * A source's auth, built once per client. `credentials` is asked before every attempt, so a type
 * whose credentials expire (an OAuth2 token) can fetch or renew them there; the static types
 * answer what they read from the environment at creation.
 */
export interface SourceAuth {
  /** Query parameter names whose values must never be logged. */
  readonly secretQueryParams: readonly string[];
  credentials(signal?: AbortSignal): Promise<Credentials>;
  /**
   * Called once per request when the API answered 401 to the credentials this auth gave (an
   * OAuth2 token revoked before its expiry). An auth that can get fresh ones forgets the refused
   * ones and returns true; the request is then sent once more, asking `credentials` again.
   * `refused` is what that request carried, so that concurrent 401s for one token renew it once.
   * Absent, or false: the 401 is final.
   */
  renew?(refused: Credentials): boolean;
  /** Releases what the auth holds open (a token endpoint's connections). */
  close?(): void;
}

/** What an auth type may need besides its config. */
export interface AuthContext {
  readonly sourceName: string;
  /** Where the variables the config names are read; the composition root passes process.env. */
  readonly env: Environment;
  readonly clock: Clock;
  readonly logger: Logger;
}

/** One auth type as the registry holds it: its config block and how to build it. */
export interface AuthDefinition<T extends string = string, F extends BlockFields = BlockFields> {
  readonly type: T;
  readonly schema: ConfigBlock<T, F>;
  readonly create: (config: z.output<ConfigBlock<T, F>>, context: AuthContext) => SourceAuth;
}

/**
 * Declares an auth type: its `type`, what it is for (shown in the README and the editor schema),
 * its config fields (secrets only ever as names of environment variables) and its factory, which
 * reads those variables and fails right away when one is unset. Register it in `auth/registry.ts`.
 */
export function defineAuth<const T extends string, F extends BlockFields>(spec: {
  readonly type: T;
  readonly description: string;
  readonly fields: F;
  readonly create: (config: z.output<ConfigBlock<T, F>>, context: AuthContext) => SourceAuth;
}): AuthDefinition<T, F> {
  return { type: spec.type, schema: configBlock(spec.type, spec.description, spec.fields), create: spec.create };
}

/** Auth whose credentials never change: resolved once, the same for every request. */
export function staticAuth(credentials: Credentials, secretQueryParams: readonly string[] = []): SourceAuth {
  const ready = Promise.resolve(credentials);
  return { secretQueryParams, credentials: () => ready };
}
