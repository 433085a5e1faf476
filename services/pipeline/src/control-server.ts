import { randomBytes, timingSafeEqual } from 'node:crypto';
import { readFile, rm } from 'node:fs/promises';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import express from 'express';
import { writePrivateFile } from '@changefeed/shared/backend';
import { AppError, errorMessage } from '@changefeed/shared/errors';

/**
 * Runs a user's SQL against the warehouse the running process owns: read-only, on a connection of
 * its own, interrupted after `timeoutMs` or when `signal` aborts (DuckDbWarehouse.userQuery).
 */
export type QueryFn = (
  sql: string,
  timeoutMs: number,
  signal: AbortSignal,
) => Promise<readonly Record<string, unknown>[]>;

/** The longest query timeout the endpoint accepts: one hour. */
export const MAX_QUERY_TIMEOUT_MS = 3_600_000;

/** Written to `<data-dir>/control.json` (mode 0600) while `changefeed run` owns the warehouse. */
export interface ControlInfo {
  readonly pid: number;
  readonly url: string;
  readonly token: string;
}

export const CONTROL_FILE = 'control.json';

/**
 * DuckDB lets one process open the file read-write and no other process open it at all meanwhile,
 * so `changefeed query` asks the running process. Loopback only, and a random token in a file only
 * the owner can read keeps other local users out.
 */
export class ControlServer {
  private constructor(
    private readonly server: Server,
    private readonly file: string,
  ) {}

  static async start(dataDir: string, query: QueryFn): Promise<ControlServer> {
    const token = randomBytes(24).toString('base64url');
    const app = express();
    app.use(express.json({ limit: '1mb' }));
    app.post('/query', (req, res) => {
      if (!tokenMatches(req.get('authorization'), token)) {
        res.status(401).end();
        return;
      }
      const body = req.body as { sql?: unknown; timeoutMs?: unknown } | undefined;
      const sql = body?.sql;
      const timeoutMs = body?.timeoutMs;
      if (typeof sql !== 'string' || sql.trim() === '' || !isTimeoutMs(timeoutMs)) {
        res.status(400).json({
          error: `expected a JSON body {"sql": "...", "timeoutMs": 1..${MAX_QUERY_TIMEOUT_MS}}`,
        });
        return;
      }
      // A CLI that gave up (Ctrl-C) leaves nothing running in the pipeline's process.
      const asker = new AbortController();
      res.on('close', () => {
        if (!res.writableFinished) asker.abort();
      });
      query(sql, timeoutMs, asker.signal).then(
        (rows) => res.json({ rows }),
        (e: unknown) =>
          res.status(400).json({ error: errorMessage(e), ...(e instanceof AppError ? { code: e.code } : {}) }),
      );
    });
    const server = await new Promise<Server>((resolve, reject) => {
      const s = app.listen(0, '127.0.0.1', () => resolve(s));
      s.once('error', reject);
    });
    const { port } = server.address() as AddressInfo;
    const file = path.join(dataDir, CONTROL_FILE);
    const info: ControlInfo = { pid: process.pid, url: `http://127.0.0.1:${port}`, token };
    // Narrowed before the token is written: a stale control.json may be left 0644 by an old version.
    await writePrivateFile(file, JSON.stringify(info));
    return new ControlServer(server, file);
  }

  async close(): Promise<void> {
    await rm(this.file, { force: true });
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

function isTimeoutMs(value: unknown): value is number {
  return typeof value === 'number' && Number.isInteger(value) && value >= 1 && value <= MAX_QUERY_TIMEOUT_MS;
}

function tokenMatches(header: string | undefined, token: string): boolean {
  const expected = Buffer.from(`Bearer ${token}`);
  const got = Buffer.from(header ?? '');
  return got.length === expected.length && timingSafeEqual(got, expected);
}

/** The running process's control endpoint, or undefined when none runs (a stale file is ignored). */
export async function findControl(dataDir: string): Promise<ControlInfo | undefined> {
  let text: string;
  try {
    text = await readFile(path.join(dataDir, CONTROL_FILE), 'utf8');
  } catch {
    return undefined;
  }
  let info: ControlInfo;
  try {
    info = JSON.parse(text) as ControlInfo;
  } catch {
    return undefined;
  }
  if (typeof info.pid !== 'number' || !isAlive(info.pid)) return undefined;
  return info;
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e: unknown) {
    // EPERM: it exists but belongs to someone else.
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Sends SQL to the running process, which interrupts it after `timeoutMs`; the request itself
 * waits a little longer, so the server's QUERY.TIMEOUT arrives rather than an abort.
 */
export async function queryRunning(
  info: ControlInfo,
  sql: string,
  timeoutMs: number,
): Promise<readonly Record<string, unknown>[]> {
  const response = await fetch(`${info.url}/query`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${info.token}` },
    body: JSON.stringify({ sql, timeoutMs }),
    signal: AbortSignal.timeout(timeoutMs + 10_000),
  });
  const body = (await response.json()) as { rows?: Record<string, unknown>[]; error?: string; code?: string };
  if (!response.ok) {
    const message = body.error ?? `the running changefeed answered ${response.status}`;
    throw body.code === undefined ? new Error(message) : new AppError(body.code, message, { retryable: false });
  }
  return body.rows ?? [];
}
