import express, { type Express, type NextFunction, type Request, type Response } from 'express';
import { DEFAULTS } from '@changefeed/shared/config';
import { createSilentLogger, type Logger } from '@changefeed/shared/log';
import { systemClock, type Clock } from '@changefeed/shared/ports';
import type { Cart } from './demo-data';
import { DemoMutator } from './demo-mutator';
import { DemoStore } from './demo-store';
import { FaultInjector, parseFault } from './fault-injector';

/*
 * The demo source API. Shapes (every response is JSON):
 *
 *   GET /products[?updatedSince=<ISO date>]   [ {id, title, category, price, stock, updatedAt} ]  (20, reference data)
 *   GET /users                                 { users: [ {id, name, email, city, country} ] }     (10, recordsPath "users")
 *   GET /carts                                 paginated, id order; the style is chosen by the query:
 *     ?offset=0&limit=100 (the default)        { carts, total, limit, offset }
 *     ?page=1&pageSize=100                     { carts, page, pageSize, total }        (pages from 1)
 *     ?paging=cursor[&cursor=T][&limit=100]    { carts, nextCursor }                   (null on the last page;
 *                                               a `cursor` parameter alone also selects this style)
 *     ?paging=link[&offset=0][&limit=100]      { carts } + `Link: </carts?paging=link&offset=..&limit=..>; rel="next"`
 *                                               (relative target; no rel="next" on the last page)
 *   limit / pageSize: 1..1000, default 100.
 *   GET /carts/:id                             the cart, or 404
 *
 * Admin (for tests and demos):
 *   POST /carts {id?, ...}        create (id assigned when absent; 409 if it exists) → 201 cart
 *   PUT /carts/:id {...}          create or replace → 201/200 cart
 *   DELETE /carts/:id             → 204, or 404
 *   PUT /products/:id {...}       merge into the product; updatedAt = now unless given → 200/201
 *   POST /admin/reset {seed?, carts?}   regenerate (same seed / initial count when absent), clear faults → 204
 *   POST /admin/faults {path, count=1, status?, retryAfter?, body?, delayMs?}   → 204
 *   DELETE /admin/faults          → 204
 *   GET /admin/faults             { faults: [...] }
 *   GET /admin/state              { carts: [every current cart, id order], products, users }
 *   GET /admin/stats              { requests: { "/carts": n, ... }, mutations: {created, updated, deleted}, carts }
 *   POST /admin/mutate {count=1}  apply random changes now → { mutations: [{type, id}] }
 */

export interface DemoApiOptions {
  readonly seed?: number;
  /** Carts 1..N at start (benchmarks use 100,000). */
  readonly carts?: number;
  /** Random cart changes per second once the mutator is started; 0 = none. */
  readonly changesPerSecond?: number;
  readonly clock?: Clock;
  readonly logger?: Logger;
}

export interface DemoApi {
  readonly app: Express;
  readonly store: DemoStore;
  readonly mutator: DemoMutator;
  readonly faults: FaultInjector;
}

const DEFAULT_PAGE_SIZE = 100;
const MAX_PAGE_SIZE = 1000;

/** A 400 answer with its reason, thrown by parameter parsing and caught by the error handler. */
class BadRequest extends Error {}

/** Builds the demo API (not listening, mutator not started): see the shapes above. */
export function buildDemoApi(options: DemoApiOptions = {}): DemoApi {
  const clock = options.clock ?? systemClock;
  const logger = options.logger ?? createSilentLogger();
  const seed = options.seed ?? DEFAULTS.demoApi.seed;
  const store = new DemoStore({ seed, carts: options.carts ?? DEFAULTS.demoApi.carts, clock });
  const mutator = new DemoMutator(store, {
    seed,
    changesPerSecond: options.changesPerSecond ?? DEFAULTS.demoApi.changesPerSecond,
    clock,
    logger,
  });
  const faults = new FaultInjector();
  const requestCounts = new Map<string, number>();

  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);
  app.use(express.json({ limit: '1mb' }));

  // Counts and faults apply to the data endpoints only: admin calls must keep working.
  app.use(async (req: Request, res: Response, next: NextFunction) => {
    if (req.path.startsWith('/admin')) {
      next();
      return;
    }
    requestCounts.set(req.path, (requestCounts.get(req.path) ?? 0) + 1);
    const fault = faults.take(req.path);
    if (fault === undefined) {
      next();
      return;
    }
    if (fault.delayMs !== undefined) await new Promise((resolve) => setTimeout(resolve, fault.delayMs));
    if (fault.status === undefined) {
      next();
      return;
    }
    if (fault.retryAfter !== undefined) res.set('Retry-After', fault.retryAfter);
    if (fault.body !== undefined) res.status(fault.status).type('text/plain').send(fault.body);
    else res.status(fault.status).json({ error: `injected fault: HTTP ${fault.status}` });
  });

  app.get('/products', (req, res) => {
    const since = optionalString(req.query['updatedSince'], 'updatedSince');
    if (since === undefined) {
      res.json(store.products());
      return;
    }
    const sinceMs = Date.parse(since);
    if (Number.isNaN(sinceMs)) throw new BadRequest(`updatedSince: expected an ISO date, got "${since}"`);
    res.json(store.products().filter((p) => Date.parse(p.updatedAt) > sinceMs));
  });

  app.put('/products/:id', (req, res) => {
    const id = pathId(req.params['id']);
    const { product, created } = store.putProduct(id, objectBody(req.body));
    res.status(created ? 201 : 200).json(product);
  });

  app.get('/users', (_req, res) => {
    res.json({ users: store.users() });
  });

  app.get('/carts', (req, res) => {
    const query = req.query;
    const paging =
      optionalString(query['paging'], 'paging') ??
      (query['cursor'] !== undefined ? 'cursor' : query['page'] !== undefined ? 'page' : 'offset');
    switch (paging) {
      case 'offset': {
        const offset = intParam(query['offset'], 'offset', 0, 0, Number.MAX_SAFE_INTEGER);
        const limit = intParam(query['limit'], 'limit', DEFAULT_PAGE_SIZE, 1, MAX_PAGE_SIZE);
        res.json({ carts: store.cartsAt(offset, limit), total: store.cartCount, limit, offset });
        return;
      }
      case 'page': {
        const page = intParam(query['page'], 'page', 1, 1, Number.MAX_SAFE_INTEGER);
        const pageSize = intParam(query['pageSize'], 'pageSize', DEFAULT_PAGE_SIZE, 1, MAX_PAGE_SIZE);
        res.json({ carts: store.cartsAt((page - 1) * pageSize, pageSize), page, pageSize, total: store.cartCount });
        return;
      }
      case 'cursor': {
        const token = optionalString(query['cursor'], 'cursor');
        const afterId = token === undefined ? 0 : decodeCursor(token);
        const limit = intParam(query['limit'], 'limit', DEFAULT_PAGE_SIZE, 1, MAX_PAGE_SIZE);
        const carts = store.cartsAfter(afterId, limit);
        const last = carts[carts.length - 1];
        const nextCursor = last !== undefined && last.id < store.maxCartId() ? encodeCursor(last.id) : null;
        res.json({ carts, nextCursor });
        return;
      }
      case 'link': {
        const offset = intParam(query['offset'], 'offset', 0, 0, Number.MAX_SAFE_INTEGER);
        const limit = intParam(query['limit'], 'limit', DEFAULT_PAGE_SIZE, 1, MAX_PAGE_SIZE);
        const links = [`</carts?paging=link&offset=0&limit=${limit}>; rel="first"`];
        if (offset + limit < store.cartCount) {
          links.push(`</carts?paging=link&offset=${offset + limit}&limit=${limit}>; rel="next"`);
        }
        res.set('Link', links.join(', ')).json({ carts: store.cartsAt(offset, limit) });
        return;
      }
      default:
        throw new BadRequest(`paging: expected offset, page, cursor or link, got "${paging}"`);
    }
  });

  app.get('/carts/:id', (req, res) => {
    const cart = store.getCart(pathId(req.params['id']));
    if (cart === undefined) res.status(404).json({ error: 'no such cart' });
    else res.json(cart);
  });

  app.post('/carts', (req, res) => {
    const body = objectBody(req.body);
    const id = body['id'] === undefined ? store.maxCartId() + 1 : cartId(body['id']);
    if (store.getCart(id) !== undefined) {
      res.status(409).json({ error: `cart ${id} exists` });
      return;
    }
    const cart: Cart = { ...body, id };
    store.putCart(cart);
    res.status(201).json(cart);
  });

  app.put('/carts/:id', (req, res) => {
    const id = pathId(req.params['id']);
    const cart: Cart = { ...objectBody(req.body), id };
    const created = store.putCart(cart);
    res.status(created ? 201 : 200).json(cart);
  });

  app.delete('/carts/:id', (req, res) => {
    res.status(store.deleteCart(pathId(req.params['id'])) ? 204 : 404).end();
  });

  app.post('/admin/reset', (req, res) => {
    const body = req.body === undefined ? {} : objectBody(req.body);
    const nextSeed = body['seed'] === undefined ? store.currentSeed : wholeNumber(body['seed'], 'seed');
    const carts = body['carts'] === undefined ? store.initialCartCount : wholeNumber(body['carts'], 'carts');
    store.reset({ seed: nextSeed, carts });
    mutator.reseed(nextSeed);
    faults.clear();
    requestCounts.clear();
    res.status(204).end();
  });

  app.post('/admin/faults', (req, res) => {
    const fault = parseFault(req.body);
    if (typeof fault === 'string') throw new BadRequest(`fault: ${fault}`);
    faults.add(fault);
    res.status(204).end();
  });

  app.delete('/admin/faults', (_req, res) => {
    faults.clear();
    res.status(204).end();
  });

  app.get('/admin/faults', (_req, res) => {
    res.json({ faults: faults.pending() });
  });

  app.get('/admin/state', (_req, res) => {
    res.json({ carts: store.allCarts(), products: store.products(), users: store.users() });
  });

  app.get('/admin/stats', (_req, res) => {
    res.json({ requests: Object.fromEntries(requestCounts), mutations: mutator.counts, carts: store.cartCount });
  });

  app.post('/admin/mutate', (req, res) => {
    const body = req.body === undefined ? {} : objectBody(req.body);
    const count = body['count'] === undefined ? 1 : wholeNumber(body['count'], 'count');
    res.json({ mutations: mutator.step(count) });
  });

  app.use((_req: Request, res: Response) => {
    res.status(404).json({ error: 'not found' });
  });

  // Express 5 routes thrown errors here; answer JSON like the rest of the API.
  app.use((e: unknown, _req: Request, res: Response, _next: NextFunction) => {
    if (e instanceof BadRequest) {
      res.status(400).json({ error: e.message });
      return;
    }
    const status = statusOf(e);
    if (status !== undefined && status >= 400 && status < 500) {
      res.status(status).json({ error: e instanceof Error ? e.message : 'bad request' });
      return;
    }
    logger.error('demo API request failed', { error: e });
    res.status(500).json({ error: 'internal error' });
  });

  return { app, store, mutator, faults };
}

function statusOf(e: unknown): number | undefined {
  if (e === null || typeof e !== 'object') return undefined;
  const status: unknown = (e as { status?: unknown }).status;
  return typeof status === 'number' ? status : undefined;
}

function optionalString(value: unknown, name: string): string | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'string') throw new BadRequest(`${name}: expected one value`);
  return value;
}

function intParam(value: unknown, name: string, fallback: number, min: number, max: number): number {
  const text = optionalString(value, name);
  if (text === undefined) return fallback;
  const n = Number(text);
  if (!/^\d+$/.test(text) || n < min || n > max) {
    throw new BadRequest(`${name}: expected a whole number ${min}..${max}, got "${text}"`);
  }
  return n;
}

function wholeNumber(value: unknown, name: string): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0) {
    throw new BadRequest(`${name}: expected a whole number >= 0`);
  }
  return value;
}

function cartId(value: unknown): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1) {
    throw new BadRequest('id: expected a whole number >= 1');
  }
  return value;
}

function pathId(value: unknown): number {
  const text = typeof value === 'string' ? value : '';
  if (!/^[1-9]\d{0,14}$/.test(text)) throw new BadRequest(`id: expected a whole number >= 1, got "${text}"`);
  return Number(text);
}

function objectBody(body: unknown): Record<string, unknown> {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) {
    throw new BadRequest('expected a JSON object body');
  }
  return body as Record<string, unknown>;
}

/** Cursors are opaque to clients; base64url keeps them from looking like something to compute. */
function encodeCursor(afterId: number): string {
  return Buffer.from(`after:${afterId}`, 'utf8').toString('base64url');
}

function decodeCursor(token: string): number {
  const match = /^after:(\d+)$/.exec(Buffer.from(token, 'base64url').toString('utf8'));
  if (match === null) throw new BadRequest(`cursor: "${token}" is not a cursor this API issued`);
  return Number(match[1]);
}
