import path from 'node:path';
import { ConfigError, loadConfig, type Config } from '@changefeed/shared/config';
import { errorMessage } from '@changefeed/shared/errors';
import { dataDirLayout } from '@changefeed/pipeline';
import { Exit, type ExitCode } from '../io';
import { runPipeline, type PipelineContext } from './run-pipeline';

export interface RunFlags {
  readonly config: string;
  readonly dataDir: string;
  readonly once: boolean;
}

/** `changefeed run --config F [--data-dir D] [--once]` */
export async function runCommand(flags: RunFlags, ctx: PipelineContext): Promise<ExitCode> {
  let config: Config;
  try {
    config = await loadConfig(path.resolve(ctx.cwd, flags.config));
  } catch (e: unknown) {
    ctx.stderr.write(`${errorMessage(e)}\n`);
    return e instanceof ConfigError ? Exit.usage : Exit.failed;
  }
  return runPipeline(config, dataDirLayout(ctx.cwd, flags.dataDir), ctx, {
    once: flags.once,
    configFile: flags.config,
  });
}
