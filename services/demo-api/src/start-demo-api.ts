import { DEFAULTS } from '@changefeed/shared/config';
import { listen } from '@changefeed/shared/http';
import { buildDemoApi, type DemoApi, type DemoApiOptions } from './demo-app';

export interface StartDemoApiOptions extends DemoApiOptions {
  /** 0 picks a free port; DEFAULTS.demoApi.port (8787, what the example config points at) when absent. */
  readonly port?: number;
  readonly host?: string;
}

export interface RunningDemoApi extends DemoApi {
  /** `http://127.0.0.1:<port>` */
  readonly url: string;
  readonly port: number;
  /** Stops the mutator and the server (cutting requests in flight). */
  close(): Promise<void>;
}

/** Builds the demo API, listens, and starts the mutator when `changesPerSecond` > 0. */
export async function startDemoApi(options: StartDemoApiOptions = {}): Promise<RunningDemoApi> {
  const api = buildDemoApi(options);
  const server = await listen(api.app, {
    port: options.port ?? DEFAULTS.demoApi.port,
    host: options.host ?? '127.0.0.1',
  });
  api.mutator.start();
  return {
    ...api,
    url: server.url,
    port: server.port,
    close: async () => {
      await api.mutator.stop();
      await server.close({ force: true });
    },
  };
}
