import { z } from 'zod';
import { schemasOf } from '../config-block';
import { apiKeyAuth } from './api-key';
import { basicAuth } from './basic';
import { bearerAuth } from './bearer';
import { noneAuth } from './none';
import { oauth2ClientCredentialsAuth } from './oauth2-client-credentials';
import type { AuthContext, SourceAuth } from './source-auth';

/**
 * Every auth type. A new type is one file in this folder (its `defineAuth`) and its entry here;
 * a source's `auth` accepts it, and the README tables and the editor schema describe it.
 */
const AUTH_TYPES = [noneAuth, bearerAuth, apiKeyAuth, basicAuth, oauth2ClientCredentialsAuth] as const;

/** A source's `auth`: one of the registered types, chosen by `type`. Secrets come from the environment. */
export const authSchema = z
  .discriminatedUnion('type', schemasOf(AUTH_TYPES))
  .meta({ description: 'How requests to the source are authenticated; secrets come from environment variables.' });
export type Auth = z.output<typeof authSchema>;

/** The names of the registered types. */
export type AuthType = Auth['type'];
export const AUTH_TYPE_NAMES: readonly AuthType[] = AUTH_TYPES.map((a) => a.type);

type Factory = (config: Auth, context: AuthContext) => SourceAuth;

// Each factory is only ever called with the config its own schema produced (the discriminated
// union picks the schema by `type`, and so does the lookup below); TypeScript cannot follow that
// correlation through a union of factories, hence the one cast.
const FACTORIES = Object.fromEntries(AUTH_TYPES.map((a) => [a.type, a.create])) as Record<AuthType, Factory>;

/**
 * The auth for a source whose `auth` is `config`. Throws SOURCE.MISSING_CREDENTIAL right away
 * when a variable the config names is unset, so a misconfigured deployment fails at start-up.
 */
export function createAuth(config: Auth, context: AuthContext): SourceAuth {
  return FACTORIES[config.type](config, context);
}
