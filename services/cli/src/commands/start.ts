import { isConfigProblem, loadConfig, type Config } from '@changefeed/shared/config';
import { errorMessage } from '@changefeed/shared/errors';
import { startDemoApi, type RunningDemoApi } from '@changefeed/demo-api';
import { dataDirLayout } from '@changefeed/pipeline';
import { Exit, type ExitCode } from '../io';
import { runPipeline, type PipelineContext } from './run-pipeline';

export interface StartFlags {
  readonly dataDir: string;
  readonly demoPort: number;
  readonly carts: number;
  readonly changesPerSecond: number;
  readonly seed: number;
  /** The example config that points at the demo API on its default port. */
  readonly exampleConfig: string;
}

/** The address the example config names; rewritten when --demo-port moves the demo API. */
const EXAMPLE_API = 'http://127.0.0.1:8787';

/** `changefeed start`: the demo API plus the whole pipeline on the example config (`npm start`). */
export async function startCommand(flags: StartFlags, ctx: PipelineContext): Promise<ExitCode> {
  let config: Config;
  try {
    config = await loadConfig(flags.exampleConfig, { env: ctx.env });
  } catch (e: unknown) {
    ctx.stderr.write(`${errorMessage(e)}\n`);
    return isConfigProblem(e) ? Exit.usage : Exit.failed;
  }
  let api: RunningDemoApi;
  try {
    api = await startDemoApi({
      port: flags.demoPort,
      carts: flags.carts,
      changesPerSecond: flags.changesPerSecond,
      seed: flags.seed,
    });
  } catch (e: unknown) {
    ctx.stderr.write(
      `changefeed: cannot start the demo API on port ${flags.demoPort}: ${errorMessage(e)} (try --demo-port)\n`,
    );
    return Exit.failed;
  }
  try {
    ctx.stdout.write(
      `demo API on ${api.url} (${flags.carts} carts, ${flags.changesPerSecond} changes/s, seed ${flags.seed})\n`,
    );
    return await runPipeline(pointAt(config, api.url), dataDirLayout(ctx.cwd, flags.dataDir), ctx, { once: false });
  } finally {
    await api.close();
  }
}

function pointAt(config: Config, apiUrl: string): Config {
  return {
    ...config,
    sources: config.sources.map((s) =>
      s.request.url.startsWith(EXAMPLE_API)
        ? { ...s, request: { ...s.request, url: apiUrl + s.request.url.slice(EXAMPLE_API.length) } }
        : s,
    ),
  };
}
