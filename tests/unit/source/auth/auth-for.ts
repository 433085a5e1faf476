import { createSilentLogger } from '@changefeed/shared/log';
import { authSchema, createAuth, SourceError, type SourceAuth } from '@changefeed/shared/source';
import { FakeClock } from '../../../support/source-fakes';

/** The auth a source named "carts" with this `auth` block (as written in YAML) gets from `env`. */
export function authFor(block: Record<string, unknown>, env: Record<string, string | undefined>): SourceAuth {
  return createAuth(authSchema.parse(block), {
    sourceName: 'carts',
    env,
    clock: new FakeClock(),
    logger: createSilentLogger(),
  });
}

/** The error `authFor` throws, failing the test when it does not throw a SourceError. */
export function authError(block: Record<string, unknown>, env: Record<string, string | undefined>): SourceError {
  try {
    authFor(block, env);
  } catch (e: unknown) {
    if (e instanceof SourceError) return e;
    throw e;
  }
  throw new Error('expected a SourceError, got an auth');
}
