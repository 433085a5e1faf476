import { spawn, type ChildProcess } from 'node:child_process';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import readline from 'node:readline';

/** A client the authorization server knows, as node-oidc-provider's `clients` configuration takes it. */
export interface OAuth2ClientSpec {
  readonly client_id: string;
  readonly client_secret: string;
  readonly grant_types: readonly string[];
  readonly token_endpoint_auth_method?: 'client_secret_basic' | 'client_secret_post';
  readonly scope?: string;
  readonly redirect_uris?: readonly string[];
  readonly response_types?: readonly string[];
}

export interface OAuth2ServerConfig {
  readonly clients: readonly OAuth2ClientSpec[];
  readonly scopes: readonly string[];
  readonly tokenTtlSeconds?: number;
}

/** node-oidc-provider in a child process (tests/support/oauth2-server.mjs). */
export class OAuth2Server {
  private child: ChildProcess | undefined;
  issuer = '';

  constructor(private readonly config: OAuth2ServerConfig) {}

  get tokenUrl(): string {
    return `${this.issuer}/token`;
  }

  async start(): Promise<void> {
    const clients = this.config.clients.map((c) => ({ redirect_uris: [], response_types: [], ...c }));
    const child = spawn(process.execPath, [path.join(__dirname, 'oauth2-server.mjs')], {
      env: { ...process.env, OAUTH2_SERVER_CONFIG: JSON.stringify({ ...this.config, clients }) },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.child = child;
    const stderr: string[] = [];
    child.stderr?.on('data', (chunk: Buffer) => stderr.push(chunk.toString()));
    const lines = readline.createInterface({ input: child.stdout });
    const port = await new Promise<number>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`the OAuth2 server did not start: ${stderr.join('')}`)), 20_000);
      child.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`the OAuth2 server exited with ${code}: ${stderr.join('')}`));
      });
      lines.on('line', (line) => {
        const match = /^listening (\d+)$/.exec(line);
        if (match !== null) {
          clearTimeout(timer);
          resolve(Number(match[1]));
        }
      });
    });
    this.issuer = `http://127.0.0.1:${port}`;
  }

  /** What the server says of `token` (RFC 7662), asked as `client`. */
  async introspect(token: string, client: OAuth2ClientSpec): Promise<Record<string, unknown>> {
    return this.post('/token/introspection', token, client);
  }

  /** Revokes `token` (RFC 7009) before its expiry, as an administrator would. */
  async revoke(token: string, client: OAuth2ClientSpec): Promise<void> {
    await this.post('/token/revocation', token, client);
  }

  async stop(): Promise<void> {
    const child = this.child;
    if (child === undefined || child.exitCode !== null) return;
    await new Promise<void>((resolve) => {
      child.once('exit', () => resolve());
      child.kill('SIGTERM');
    });
  }

  private async post(route: string, token: string, client: OAuth2ClientSpec): Promise<Record<string, unknown>> {
    const response = await fetch(`${this.issuer}${route}`, {
      method: 'POST',
      headers: {
        'Content-Type': 'application/x-www-form-urlencoded',
        Authorization: `Basic ${Buffer.from(`${client.client_id}:${client.client_secret}`).toString('base64')}`,
      },
      body: new URLSearchParams({ token }).toString(),
    });
    if (!response.ok) throw new Error(`${route} answered ${response.status}: ${await response.text()}`);
    const text = await response.text();
    return text === '' ? {} : (JSON.parse(text) as Record<string, unknown>);
  }
}

/** What the protected API saw of one request. */
export interface ProtectedRequest {
  readonly token: string | undefined;
  readonly active: boolean;
  readonly introspection: Record<string, unknown>;
}

/**
 * A resource server that accepts a request only with a Bearer token the authorization server
 * says is active (asking it by introspection, as a real API does), and answers its records.
 */
export class ProtectedApi {
  readonly requests: ProtectedRequest[] = [];
  records: readonly Record<string, unknown>[] = [];
  private server: http.Server | undefined;

  constructor(
    private readonly authServer: OAuth2Server,
    private readonly introspectAs: OAuth2ClientSpec,
  ) {}

  async start(): Promise<string> {
    const server = http.createServer((req, res) => {
      void this.handle(req, res);
    });
    this.server = server;
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  }

  /** The distinct tokens requests carried, in the order first seen. */
  tokens(): string[] {
    return [...new Set(this.requests.flatMap((r) => (r.token === undefined ? [] : [r.token])))];
  }

  async stop(): Promise<void> {
    await new Promise<void>((resolve) => (this.server === undefined ? resolve() : this.server.close(() => resolve())));
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const match = /^Bearer (.+)$/.exec(req.headers.authorization ?? '');
    const token = match?.[1];
    const introspection = token === undefined ? {} : await this.authServer.introspect(token, this.introspectAs);
    const active = introspection['active'] === true;
    this.requests.push({ token, active, introspection });
    if (!active) {
      res.writeHead(401, { 'WWW-Authenticate': 'Bearer error="invalid_token"' }).end();
      return;
    }
    res.writeHead(200, { 'Content-Type': 'application/json' }).end(JSON.stringify({ items: this.records }));
  }
}
