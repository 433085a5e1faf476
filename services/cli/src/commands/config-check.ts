import path from 'node:path';
import {
  ConfigError,
  isConfigProblem,
  loadConfig,
  unauthenticatedPushProblem,
  type Config,
} from '@changefeed/shared/config';
import { errorMessage } from '@changefeed/shared/errors';
import { Exit, type CliIo, type ExitCode } from '../io';

export interface ConfigCheckFlags {
  /** False with `--no-env`: the file alone, without the variables it names (CI lints a file whose secrets it does not have). */
  readonly env: boolean;
}

/**
 * `changefeed config check <file> [--no-env]`: prints every problem as `file:line:col: path:
 * message` and exits 2, or a one-line summary of what the file configures and exits 0. Unless
 * `--no-env`, a variable the file names that is unset in this environment is a problem too
 * (`sources[2].auth.tokenEnv: SHOP_TOKEN is not set`), as it would be for `run`.
 */
export async function configCheck(file: string, flags: ConfigCheckFlags, io: CliIo): Promise<ExitCode> {
  let config: Config;
  try {
    config = await loadConfig(path.resolve(io.cwd, file), flags.env ? { env: io.env } : {});
  } catch (e: unknown) {
    io.stderr.write(`${errorMessage(e)}\n`);
    if (e instanceof ConfigError && e.issues.some((i) => i.variable !== undefined)) {
      io.stderr.write('(set them, or check the file alone with --no-env)\n');
    }
    return isConfigProblem(e) ? Exit.usage : Exit.failed;
  }
  // Valid YAML the loader would still refuse to start with: the same exit as a schema problem.
  const pushProblem = unauthenticatedPushProblem(config);
  if (pushProblem !== undefined) {
    io.stderr.write(`${file}: ${pushProblem} [CONFIG.UNAUTHENTICATED_PUSH]\n`);
    return Exit.usage;
  }
  const stream = config.sources.filter((s) => s.mode === 'stream').map((s) => s.name);
  const batch = config.sources.filter((s) => s.mode === 'batch').map((s) => s.name);
  io.stdout.write(
    `${file}: ok (backend ${config.backend}; stream sources: ${list(stream)}; batch sources: ${list(batch)}` +
      `${flags.env ? '' : '; environment not checked'})\n`,
  );
  return Exit.ok;
}

function list(names: readonly string[]): string {
  return names.length === 0 ? 'none' : names.join(', ');
}
