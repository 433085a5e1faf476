import type { Auth } from '../config';
import { SourceError, SourceErrorCode } from './source-error';

/** What auth adds to every request of a source, resolved once from the environment. */
export interface ResolvedAuth {
  readonly headers: Readonly<Record<string, string>>;
  readonly query: Readonly<Record<string, string>>;
  /** Query parameter names whose values must never be logged. */
  readonly secretQueryParams: readonly string[];
}

export type Environment = Readonly<Record<string, string | undefined>>;

/**
 * Reads the credentials `auth` names from `env`. A variable that is unset or empty fails here, at
 * client creation, naming the source, the config key and the variable, rather than as a 401 on
 * the first poll. The error never contains a value.
 */
export function resolveAuth(sourceName: string, auth: Auth, env: Environment): ResolvedAuth {
  const read = (configKey: string, variable: string): string => {
    const value = env[variable];
    if (value === undefined || value === '') {
      throw new SourceError(
        SourceErrorCode.missingCredential,
        `source "${sourceName}": auth.${configKey} names the environment variable ${variable}, which is not set`,
        { source: sourceName },
      );
    }
    return value;
  };
  switch (auth.type) {
    case 'none':
      return { headers: {}, query: {}, secretQueryParams: [] };
    case 'bearer':
      return {
        headers: { Authorization: `Bearer ${read('tokenEnv', auth.tokenEnv)}` },
        query: {},
        secretQueryParams: [],
      };
    case 'apiKey': {
      const value = read('valueEnv', auth.valueEnv);
      return auth.in === 'header'
        ? { headers: { [auth.name]: value }, query: {}, secretQueryParams: [] }
        : { headers: {}, query: { [auth.name]: value }, secretQueryParams: [auth.name] };
    }
    case 'basic': {
      const user = read('usernameEnv', auth.usernameEnv);
      const password = read('passwordEnv', auth.passwordEnv);
      // RFC 7617: base64 of "user:password" in UTF-8.
      const token = Buffer.from(`${user}:${password}`, 'utf8').toString('base64');
      return { headers: { Authorization: `Basic ${token}` }, query: {}, secretQueryParams: [] };
    }
  }
}
