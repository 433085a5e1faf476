import path from 'node:path';
import { ConfigError, loadConfig, unauthenticatedPushProblem, type Config } from '@changefeed/shared/config';
import { errorMessage } from '@changefeed/shared/errors';
import { Exit, type CliIo, type ExitCode } from '../io';

/**
 * `changefeed config check <file>`: prints every problem as `file:line:col: path: message` and
 * exits 2, or a one-line summary of what the file configures and exits 0.
 */
export async function configCheck(file: string, io: CliIo): Promise<ExitCode> {
  let config: Config;
  try {
    config = await loadConfig(path.resolve(io.cwd, file));
  } catch (e: unknown) {
    io.stderr.write(`${errorMessage(e)}\n`);
    return e instanceof ConfigError ? Exit.usage : Exit.failed;
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
    `${file}: ok (backend ${config.backend}; stream sources: ${list(stream)}; batch sources: ${list(batch)})\n`,
  );
  return Exit.ok;
}

function list(names: readonly string[]): string {
  return names.length === 0 ? 'none' : names.join(', ');
}
