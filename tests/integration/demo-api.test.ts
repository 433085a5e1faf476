import request from 'supertest';
import type { Clock } from '@changefeed/shared/ports';
import { buildDemoApi, startDemoApi, type Cart, type DemoApi } from '@changefeed/demo-api';
import { FakeClock } from '../support/source-fakes';

interface CartsBody {
  carts: Cart[];
  nextCursor?: string | null;
}

/** Sleeps resolve only when the test moves time past them. */
class ManualClock implements Clock {
  private nowMs = Date.parse('2024-06-01T00:00:00.000Z');
  private waiting: { at: number; resolve: () => void }[] = [];

  now(): Date {
    return new Date(this.nowMs);
  }

  sleep(ms: number, signal?: AbortSignal): Promise<void> {
    return new Promise((resolve, reject) => {
      const entry = { at: this.nowMs + ms, resolve };
      this.waiting.push(entry);
      signal?.addEventListener('abort', () => {
        this.waiting = this.waiting.filter((w) => w !== entry);
        reject(new Error('aborted'));
      });
    });
  }

  async tick(ms: number): Promise<void> {
    this.nowMs += ms;
    const due = this.waiting.filter((w) => w.at <= this.nowMs);
    this.waiting = this.waiting.filter((w) => w.at > this.nowMs);
    for (const w of due) w.resolve();
    for (let i = 0; i < 5; i++) await Promise.resolve();
  }
}

function demo(carts = 23, seed = 7): DemoApi {
  return buildDemoApi({ carts, seed, changesPerSecond: 0, clock: new FakeClock() });
}

const allIds = (n: number): number[] => Array.from({ length: n }, (_, i) => i + 1);

describe('demo API pagination: every style returns every cart exactly once', () => {
  const api = demo(23);

  it('offset + limit (the default style)', async () => {
    const ids: number[] = [];
    for (let offset = 0; ; offset += 5) {
      const res = await request(api.app).get(`/carts?offset=${offset}&limit=5`).expect(200);
      const body = res.body as CartsBody & { total: number; limit: number; offset: number };
      expect([body.total, body.limit, body.offset]).toEqual([23, 5, offset]);
      ids.push(...body.carts.map((c) => c.id));
      if (body.carts.length < 5) break;
    }
    expect(ids).toEqual(allIds(23));
  });

  it('defaults to offset 0 and 100 per page', async () => {
    const res = await request(api.app).get('/carts').expect(200);
    expect((res.body as { carts: Cart[]; limit: number }).limit).toBe(100);
    expect((res.body as CartsBody).carts.map((c) => c.id)).toEqual(allIds(23));
  });

  it('page + pageSize, from page 1', async () => {
    const ids: number[] = [];
    for (let page = 1; ; page++) {
      const res = await request(api.app).get(`/carts?page=${page}&pageSize=10`).expect(200);
      const body = res.body as CartsBody & { page: number; pageSize: number; total: number };
      expect([body.page, body.pageSize, body.total]).toEqual([page, 10, 23]);
      ids.push(...body.carts.map((c) => c.id));
      if (body.carts.length < 10) break;
    }
    expect(ids).toEqual(allIds(23));
  });

  it('cursor: nextCursor until null', async () => {
    const ids: number[] = [];
    let path = '/carts?paging=cursor&limit=6';
    for (let guard = 0; guard < 10; guard++) {
      const body = (await request(api.app).get(path).expect(200)).body as CartsBody;
      ids.push(...body.carts.map((c) => c.id));
      if (body.nextCursor === null) break;
      path = `/carts?cursor=${body.nextCursor}&limit=6`;
    }
    expect(ids).toEqual(allIds(23));
  });

  it('cursor pages are stable while carts before the cursor are deleted', async () => {
    const local = demo(10);
    const first = (await request(local.app).get('/carts?paging=cursor&limit=5').expect(200)).body as CartsBody;
    await request(local.app).delete('/carts/2').expect(204);
    const second = (await request(local.app).get(`/carts?cursor=${first.nextCursor}&limit=5`).expect(200))
      .body as CartsBody;
    expect(second.carts.map((c) => c.id)).toEqual([6, 7, 8, 9, 10]);
    expect(second.nextCursor).toBeNull();
  });

  it('Link header: relative rel="next" until there is none', async () => {
    const ids: number[] = [];
    let path: string | undefined = '/carts?paging=link&limit=8';
    const links: string[] = [];
    while (path !== undefined) {
      const res: request.Response = await request(api.app).get(path).expect(200);
      const link = String(res.headers['link']);
      links.push(link);
      ids.push(...(res.body as CartsBody).carts.map((c) => c.id));
      path = /<([^>]+)>; rel="next"/.exec(link)?.[1];
    }
    expect(ids).toEqual(allIds(23));
    expect(links).toEqual([
      '</carts?paging=link&offset=0&limit=8>; rel="first", </carts?paging=link&offset=8&limit=8>; rel="next"',
      '</carts?paging=link&offset=0&limit=8>; rel="first", </carts?paging=link&offset=16&limit=8>; rel="next"',
      '</carts?paging=link&offset=0&limit=8>; rel="first"',
    ]);
  });

  it('rejects bad paging parameters with a 400 naming them', async () => {
    expect((await request(api.app).get('/carts?limit=0').expect(400)).body).toEqual({
      error: 'limit: expected a whole number 1..1000, got "0"',
    });
    expect((await request(api.app).get('/carts?paging=scroll').expect(400)).body).toEqual({
      error: 'paging: expected offset, page, cursor or link, got "scroll"',
    });
    expect((await request(api.app).get('/carts?cursor=bogus').expect(400)).body).toEqual({
      error: 'cursor: "bogus" is not a cursor this API issued',
    });
  });

  it('serves pages of 100,000 carts without materialising them', async () => {
    const big = demo(100_000);
    const last = (await request(big.app).get('/carts?offset=99900&limit=100').expect(200)).body as CartsBody & {
      total: number;
    };
    expect(last.total).toBe(100_000);
    expect(last.carts.map((c) => c.id)).toEqual(Array.from({ length: 100 }, (_, i) => 99_901 + i));
    const page = (await request(big.app).get('/carts?page=1000&pageSize=100').expect(200)).body as CartsBody;
    expect(page.carts[99]?.id).toBe(100_000);
  });
});

describe('demo API data', () => {
  it('is the same for the same seed and differs for another', async () => {
    const a = (await request(demo(50, 1).app).get('/admin/state').expect(200)).body as unknown;
    const b = (await request(demo(50, 1).app).get('/admin/state').expect(200)).body as unknown;
    const c = (await request(demo(50, 2).app).get('/admin/state').expect(200)).body as { carts: Cart[] };
    expect(b).toEqual(a);
    expect(c.carts).not.toEqual((a as { carts: Cart[] }).carts);
  });

  it('carts look like carts and weigh about 450 bytes of JSON', async () => {
    const { carts } = (await request(demo(200).app).get('/admin/state').expect(200)).body as { carts: Cart[] };
    const sizes = carts.map((c) => JSON.stringify(c).length);
    const mean = sizes.reduce((a, b) => a + b, 0) / sizes.length;
    expect(mean).toBeGreaterThan(350);
    expect(mean).toBeLessThan(600);
    const cart = carts[0] as Record<string, unknown>;
    expect(Object.keys(cart)).toEqual([
      'id',
      'userId',
      'status',
      'channel',
      'currency',
      'createdAt',
      'updatedAt',
      'products',
      'totalProducts',
      'totalQuantity',
      'total',
      'discountedTotal',
      'shippingAddress',
    ]);
    const lines = cart['products'] as { price: number; quantity: number }[];
    const total = Math.round(lines.reduce((s, l) => s + l.price * l.quantity, 0) * 100) / 100;
    expect(cart['total']).toBe(total);
  });

  it('serves 20 products as a plain array and 10 users under "users"', async () => {
    const api = demo();
    const products = (await request(api.app).get('/products').expect(200)).body as { id: number }[];
    expect(products.map((p) => p.id)).toEqual(allIds(20));
    const users = (await request(api.app).get('/users').expect(200)).body as { users: { id: number }[] };
    expect(users.users.map((u) => u.id)).toEqual(allIds(10));
  });

  it('filters products by updatedSince, and a PUT makes a product newer', async () => {
    const api = demo();
    // Generated products are updated at 01:00, 02:00, ... on 2024-01-01.
    const since = (await request(api.app).get('/products?updatedSince=2024-01-01T18:00:00.000Z').expect(200)).body as {
      id: number;
    }[];
    expect(since.map((p) => p.id)).toEqual([19, 20]);
    const put = await request(api.app).put('/products/3').send({ price: 9.99 }).expect(200);
    expect(put.body).toMatchObject({ id: 3, price: 9.99, updatedAt: '2024-06-01T00:00:00.000Z' });
    const after = (await request(api.app).get('/products?updatedSince=2024-01-01T18:00:00.000Z').expect(200)).body as {
      id: number;
    }[];
    expect(after.map((p) => p.id)).toEqual([3, 19, 20]);
    await request(api.app).get('/products?updatedSince=yesterday').expect(400);
  });
});

describe('demo API mutations', () => {
  it('creates, replaces and deletes carts', async () => {
    const api = demo(3);
    await request(api.app).post('/carts').send({ id: 2, total: 1 }).expect(409);
    expect((await request(api.app).post('/carts').send({ total: 5 }).expect(201)).body).toEqual({ total: 5, id: 4 });
    expect((await request(api.app).post('/carts').send({ id: 10, total: 6 }).expect(201)).body).toEqual({
      id: 10,
      total: 6,
    });
    expect((await request(api.app).put('/carts/1').send({ total: 7 }).expect(200)).body).toEqual({ total: 7, id: 1 });
    await request(api.app).delete('/carts/2').expect(204);
    await request(api.app).delete('/carts/2').expect(404);
    await request(api.app).get('/carts/2').expect(404);
    expect((await request(api.app).put('/carts/2').send({ total: 8 }).expect(201)).body).toEqual({ total: 8, id: 2 });
    const state = (await request(api.app).get('/admin/state').expect(200)).body as { carts: Cart[] };
    expect(state.carts.map((c) => c.id)).toEqual([1, 2, 3, 4, 10]);
    expect(state.carts[0]).toEqual({ total: 7, id: 1 });
  });

  it('resets to the seeded state', async () => {
    const api = demo(3, 5);
    const before = (await request(api.app).get('/admin/state').expect(200)).body as unknown;
    await request(api.app).delete('/carts/1').expect(204);
    await request(api.app).post('/admin/reset').send({}).expect(204);
    expect((await request(api.app).get('/admin/state').expect(200)).body).toEqual(before);
    await request(api.app).post('/admin/reset').send({ carts: 1 }).expect(204);
    expect(((await request(api.app).get('/carts').expect(200)).body as CartsBody).carts.map((c) => c.id)).toEqual([1]);
  });

  it('the mutator is reproducible and re-creates deleted ids', () => {
    const run = (): string[] => {
      const api = demo(30, 11);
      return api.mutator.step(300).map((m) => `${m.type}:${m.id}`);
    };
    const first = run();
    expect(run()).toEqual(first);
    const types = new Set(first.map((m) => m.split(':')[0]));
    expect([...types].sort()).toEqual(['created', 'deleted', 'updated']);
    const deletedThenCreated = first.some((m, i) => {
      if (!m.startsWith('deleted:')) return false;
      const id = m.split(':')[1];
      return first.slice(i + 1).includes(`created:${id}`);
    });
    expect(deletedThenCreated).toBe(true);
  });

  it('the mutator changes what the API serves, stamping updatedAt with the clock', () => {
    const api = demo(5, 3);
    const [m] = api.mutator.step(1);
    if (m === undefined) throw new Error('no mutation');
    const cart = api.store.getCart(m.id);
    if (m.type === 'deleted') expect(cart).toBeUndefined();
    else expect(cart?.['updatedAt']).toBe('2024-06-01T00:00:00.000Z');
    expect(api.mutator.counts[m.type]).toBe(1);
  });

  it('the started mutator applies changesPerSecond on the clock and stops', async () => {
    const clock = new ManualClock();
    const api = buildDemoApi({ carts: 10, seed: 1, changesPerSecond: 4, clock });
    api.mutator.start();
    await clock.tick(250);
    await clock.tick(250);
    await clock.tick(500);
    const counts = api.mutator.counts;
    expect(counts.created + counts.updated + counts.deleted).toBe(4);
    await api.mutator.stop();
    await clock.tick(1000);
    const after = api.mutator.counts;
    expect(after.created + after.updated + after.deleted).toBe(4);
  });
});

describe('demo API faults', () => {
  it('answers the next N requests to a path with the given status and Retry-After', async () => {
    const api = demo(3);
    await request(api.app)
      .post('/admin/faults')
      .send({ path: '/carts', status: 429, retryAfter: '1', count: 2 })
      .expect(204);
    const first = await request(api.app).get('/carts').expect(429);
    expect(first.headers['retry-after']).toBe('1');
    await request(api.app).get('/users').expect(200);
    await request(api.app).get('/carts?offset=0').expect(429);
    await request(api.app).get('/carts').expect(200);
    const stats = (await request(api.app).get('/admin/stats').expect(200)).body as { requests: Record<string, number> };
    expect(stats.requests).toEqual({ '/carts': 3, '/users': 1 });
  });

  it('can send a body that is not JSON', async () => {
    const api = demo(3);
    await request(api.app).post('/admin/faults').send({ path: '/users', status: 200, body: '<html>' }).expect(204);
    const res = await request(api.app).get('/users').expect(200);
    expect(res.text).toBe('<html>');
  });

  it('delays a request, then answers normally', async () => {
    const api = demo(3);
    await request(api.app).post('/admin/faults').send({ path: '/carts', delayMs: 30 }).expect(204);
    expect((await request(api.app).get('/admin/faults').expect(200)).body).toEqual({
      faults: [{ path: '/carts', left: 1, fault: { path: '/carts', count: 1, delayMs: 30 } }],
    });
    const res = await request(api.app).get('/carts').expect(200);
    expect((res.body as CartsBody).carts).toHaveLength(3);
    expect((await request(api.app).get('/admin/faults').expect(200)).body).toEqual({ faults: [] });
  });

  it('rejects a fault it cannot apply', async () => {
    const api = demo(3);
    expect(
      (await request(api.app).post('/admin/faults').send({ path: 'carts', status: 500 }).expect(400)).body,
    ).toEqual({
      error: 'fault: path: expected a path such as "/carts"',
    });
  });
});

describe('startDemoApi', () => {
  it('listens on a free port of 127.0.0.1 and closes', async () => {
    const running = await startDemoApi({ port: 0, carts: 2, changesPerSecond: 0 });
    expect(running.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    const res = await fetch(`${running.url}/carts`);
    expect(((await res.json()) as CartsBody).carts.map((c) => c.id)).toEqual([1, 2]);
    await running.close();
    await expect(fetch(`${running.url}/carts`)).rejects.toThrow();
  });
});
