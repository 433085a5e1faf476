import path from 'node:path';
import { isConfigProblem, loadConfig, type Config } from '@changefeed/shared/config';
import { errorMessage } from '@changefeed/shared/errors';
import { dataDirLayout } from '@changefeed/pipeline';
import { Exit, type ExitCode } from '../io';
import { runPipeline, type PipelineContext } from './run-pipeline';

export interface RunFlags {
  readonly config: string;
  readonly dataDir: string;
  readonly once: boolean;
}

/**
 * `changefeed run --config F [--data-dir D] [--once]`. The config, and every variable it names,
 * are checked before anything is opened: a missing file or an unset variable exits 2 with its
 * place in the file, like any other config problem.
 */
export async function runCommand(flags: RunFlags, ctx: PipelineContext): Promise<ExitCode> {
  let config: Config;
  try {
    config = await loadConfig(path.resolve(ctx.cwd, flags.config), { env: ctx.env });
  } catch (e: unknown) {
    ctx.stderr.write(`${errorMessage(e)}\n`);
    return isConfigProblem(e) ? Exit.usage : Exit.failed;
  }
  return runPipeline(config, dataDirLayout(ctx.cwd, flags.dataDir), ctx, {
    once: flags.once,
    configFile: flags.config,
  });
}
