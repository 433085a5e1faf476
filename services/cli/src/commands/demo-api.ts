import { once } from 'node:events';
import { errorMessage } from '@changefeed/shared/errors';
import { startDemoApi } from '@changefeed/demo-api';
import { Exit, type CliIo, type ExitCode } from '../io';

export interface DemoApiFlags {
  readonly port: number;
  readonly carts: number;
  readonly changesPerSecond: number;
  readonly seed: number;
}

/** `changefeed demo-api`: only the demo store API, until SIGINT/SIGTERM. */
export async function demoApiCommand(
  flags: DemoApiFlags,
  io: CliIo & { readonly signal: AbortSignal },
): Promise<ExitCode> {
  let api;
  try {
    api = await startDemoApi(flags);
  } catch (e: unknown) {
    io.stderr.write(`changefeed demo-api: cannot listen on port ${flags.port}: ${errorMessage(e)}\n`);
    return Exit.failed;
  }
  io.stdout.write(
    `demo API on ${api.url}: ${flags.carts} carts, ${flags.changesPerSecond} changes/s, seed ${flags.seed}\n` +
      `  GET ${api.url}/carts  ${api.url}/products  ${api.url}/users   (admin: ${api.url}/admin/state)\n`,
  );
  if (!io.signal.aborted) await once(io.signal, 'abort');
  await api.close();
  return Exit.ok;
}
