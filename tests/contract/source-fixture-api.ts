import express, { type Request, type Response } from 'express';
import { listen, type ListeningServer } from '@changefeed/shared/http';

/** The records every route serves, in this order. */
export const FIXTURE_RECORDS: readonly { readonly id: number; readonly name: string }[] = Array.from(
  { length: 7 },
  (_, i) => ({ id: i + 1, name: `item ${i + 1}` }),
);

/** What the server saw of one request. */
export interface ReceivedRequest {
  readonly path: string;
  readonly query: Readonly<Record<string, string>>;
  readonly headers: Request['headers'];
}

/** A failure the server answers instead of the route, for requests to `path` (and `query`, when given). */
export interface Fault {
  readonly path: string;
  /** Only requests whose query has these values; absent: any request to the path. */
  readonly query?: Readonly<Record<string, string>>;
  /** How many matching requests get the fault. */
  readonly times: number;
  /** The status to answer; absent with `delayMs`: the route's answer, late. */
  readonly status?: number;
  readonly retryAfter?: string;
  /** Answer only after this long (for timeouts); the timer never holds the process open. */
  readonly delayMs?: number;
}

/**
 * A small REST API of our own with a route per pagination style (`/none`, `/offset`, `/page`,
 * `/cursor`, `/link`) over the same seven records, a `/secure` route (offset pages) that answers
 * 401 to every request whose credentials `guard` refuses, and scripted faults.
 */
export class SourceFixtureApi {
  readonly received: ReceivedRequest[] = [];
  /** Decides whether `/secure` serves the records; replaced by each auth test. */
  guard: (req: Request) => boolean = () => true;
  private faults: { fault: Fault; left: number }[] = [];
  private server: ListeningServer | undefined;

  async start(): Promise<string> {
    const app = express();
    app.use((req, res, next) => {
      this.received.push({ path: req.path, query: queryOf(req), headers: req.headers });
      const fault = this.takeFault(req);
      if (fault === undefined) return next();
      const answer = (): void => {
        if (fault.status === undefined) return next();
        if (fault.retryAfter !== undefined) res.set('Retry-After', fault.retryAfter);
        res.status(fault.status).json({ error: `fault ${fault.status}` });
      };
      if (fault.delayMs === undefined) answer();
      else setTimeout(answer, fault.delayMs).unref();
    });
    app.get('/none', (_req, res) => res.json(FIXTURE_RECORDS));
    app.get('/offset', (req, res) => {
      const offset = intParam(req, 'offset', 0);
      res.json({ items: FIXTURE_RECORDS.slice(offset, offset + intParam(req, 'limit', 100)) });
    });
    app.get('/page', (req, res) => {
      const size = intParam(req, 'size', 100);
      const page = intParam(req, 'page', 1);
      res.json({ items: FIXTURE_RECORDS.slice((page - 1) * size, page * size) });
    });
    app.get('/cursor', (req, res) => {
      // The token is opaque to the client: "at-<index of the next record>".
      const cursor = typeof req.query['cursor'] === 'string' ? req.query['cursor'] : 'at-0';
      const from = Number(cursor.slice('at-'.length));
      const to = from + intParam(req, 'limit', 100);
      res.json({
        items: FIXTURE_RECORDS.slice(from, to),
        meta: { next: to < FIXTURE_RECORDS.length ? `at-${to}` : null },
      });
    });
    app.get('/link', (req, res) => {
      const perPage = intParam(req, 'per_page', 100);
      const page = intParam(req, 'page', 1);
      if (page * perPage < FIXTURE_RECORDS.length) {
        res.set('Link', `</link?page=${page + 1}&per_page=${perPage}>; rel="next", </link?page=1>; rel="first"`);
      }
      res.json(FIXTURE_RECORDS.slice((page - 1) * perPage, page * perPage));
    });
    // Offset pages, like /offset, each only for a request whose credentials the guard accepts.
    app.get('/secure', (req: Request, res: Response) => {
      if (!this.guard(req)) return void res.status(401).json({ error: 'unauthorized' });
      const offset = intParam(req, 'offset', 0);
      res.json({ items: FIXTURE_RECORDS.slice(offset, offset + intParam(req, 'limit', 100)) });
    });
    this.server = await listen(app, { port: 0 });
    return this.server.url;
  }

  /** Forgets what was received, the faults and the guard: every test starts from a clean server. */
  reset(): void {
    this.received.length = 0;
    this.faults = [];
    this.guard = () => true;
  }

  inject(fault: Fault): void {
    this.faults.push({ fault, left: fault.times });
  }

  async stop(): Promise<void> {
    await this.server?.close({ force: true });
  }

  private takeFault(req: Request): Fault | undefined {
    const query = queryOf(req);
    const entry = this.faults.find(
      ({ fault, left }) =>
        left > 0 &&
        fault.path === req.path &&
        Object.entries(fault.query ?? {}).every(([name, value]) => query[name] === value),
    );
    if (entry === undefined) return undefined;
    entry.left -= 1;
    return entry.fault;
  }
}

function queryOf(req: Request): Record<string, string> {
  const query: Record<string, string> = {};
  for (const [name, value] of Object.entries(req.query)) if (typeof value === 'string') query[name] = value;
  return query;
}

function intParam(req: Request, name: string, fallback: number): number {
  const value = req.query[name];
  return typeof value === 'string' && /^\d+$/.test(value) ? Number(value) : fallback;
}
