import net from 'node:net';

/**
 * A TCP proxy in front of an emulator, on a fixed loopback port, that a test can take down (the
 * port refuses connections and open ones are cut, as when the endpoint goes away) and bring back
 * up on the same port. The emulator behind it keeps its state, which stopping it would lose.
 */
export class TcpProxy {
  private server: net.Server | undefined;
  private readonly sockets = new Set<net.Socket>();

  private constructor(
    private readonly target: { readonly host: string; readonly port: number },
    private portNumber: number,
  ) {}

  /** Starts a proxy to `hostPort` (`host:port`) on a free port. */
  static async start(hostPort: string): Promise<TcpProxy> {
    const colon = hostPort.lastIndexOf(':');
    const proxy = new TcpProxy({ host: hostPort.slice(0, colon), port: Number(hostPort.slice(colon + 1)) }, 0);
    await proxy.up();
    return proxy;
  }

  /** `127.0.0.1:<port>`, the same across down and up. */
  get hostPort(): string {
    return `127.0.0.1:${this.portNumber}`;
  }

  /** Listens again on the same port. */
  async up(): Promise<void> {
    if (this.server !== undefined) return;
    const server = net.createServer((client) => this.pipe(client));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.portNumber, '127.0.0.1', () => resolve());
    });
    const address = server.address();
    if (address !== null && typeof address === 'object') this.portNumber = address.port;
    this.server = server;
  }

  /** Stops listening and cuts every open connection; resolves once the port refuses connections. */
  async down(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    for (const socket of this.sockets) socket.destroy();
    this.sockets.clear();
    if (server !== undefined) await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  private pipe(client: net.Socket): void {
    const upstream = net.connect(this.target.port, this.target.host);
    for (const socket of [client, upstream]) {
      this.sockets.add(socket);
      socket.on('close', () => this.sockets.delete(socket));
      socket.on('error', () => {
        client.destroy();
        upstream.destroy();
      });
    }
    client.pipe(upstream);
    upstream.pipe(client);
  }
}
