import { AppError, ValidationError } from '../errors';

/**
 * True when `e` says the configuration cannot work — the file, the flags, the environment it
 * names — so that running again unchanged cannot help: the CLI and the services exit 2 for it,
 * and 1 for work that failed. A config read that may heal by itself (a Cloud Storage 503) is not
 * one: it is `retryable`.
 */
export function isConfigProblem(e: unknown): boolean {
  return e instanceof ValidationError || (e instanceof AppError && e.code.startsWith('CONFIG.') && !e.retryable);
}
