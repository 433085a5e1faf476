import { z } from 'zod';
import { SourceError, SourceErrorCode } from '../source-error';
import type { AuthContext } from './source-auth';

/** The name of an environment variable that holds a credential (the value never sits in the file). */
export const envVarSchema = z
  .string()
  .regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'expected the name of an environment variable');

/**
 * The value of the variable `auth.<configKey>` names. A variable that is unset or empty fails
 * here, at client creation, naming the source, the config key and the variable, rather than as a
 * 401 on the first poll. The error never contains a value.
 */
export function readCredential(
  context: Pick<AuthContext, 'sourceName' | 'env'>,
  configKey: string,
  variable: string,
): string {
  const value = context.env[variable];
  if (value === undefined || value === '') {
    throw new SourceError(
      SourceErrorCode.missingCredential,
      `source "${context.sourceName}": auth.${configKey} names the environment variable ${variable}, which is not set`,
      { source: context.sourceName },
    );
  }
  return value;
}
