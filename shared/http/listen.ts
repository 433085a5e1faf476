import { createServer, type RequestListener, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/** A server listening on a real port, with the URL to reach it and a way to stop it. */
export interface ListeningServer {
  readonly server: Server;
  /** `http://<host>:<port>` without a trailing slash; the port is the real one when 0 was asked. */
  readonly url: string;
  readonly port: number;
  /**
   * Stops accepting connections, closes idle keep-alive sockets and resolves once the server is
   * closed: after in-flight requests finished, or at once with `force` (which cuts them).
   */
  close(options?: CloseOptions): Promise<void>;
}

export interface CloseOptions {
  /** Cut in-flight requests too (a test server, or a second SIGTERM), instead of letting them finish. */
  readonly force?: boolean;
}

export interface ListenOptions {
  /** 0 picks a free port (what tests use). */
  readonly port: number;
  /** Loopback by default: nothing listens on other interfaces unless asked. */
  readonly host?: string;
}

/**
 * Starts `handler` (an express app or any request listener) on `port`. Rejects when the port is
 * taken, instead of emitting an unhandled `error` event.
 */
export function listen(handler: RequestListener, options: ListenOptions): Promise<ListeningServer> {
  const host = options.host ?? '127.0.0.1';
  const server = createServer(handler);
  return new Promise<ListeningServer>((resolve, reject) => {
    const onError = (e: Error): void => reject(e);
    server.once('error', onError);
    server.listen(options.port, host, () => {
      server.off('error', onError);
      const { port } = server.address() as AddressInfo;
      const urlHost = host.includes(':') ? `[${host}]` : host;
      resolve({
        server,
        port,
        url: `http://${urlHost}:${port}`,
        close: (closeOptions) => closeServer(server, closeOptions?.force ?? false),
      });
    });
  });
}

function closeServer(server: Server, force: boolean): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    server.close((e) => (e === undefined ? resolve() : reject(e)));
    // Keep-alive clients would otherwise hold the server open until their sockets time out.
    server.closeIdleConnections();
    if (force) server.closeAllConnections();
  });
}
