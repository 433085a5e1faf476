import { sourceSchema } from '@changefeed/shared/config';
import { HttpSourceClient, SourceError, type Credentials, type SourceAuth } from '@changefeed/shared/source';
import { FIXTURE_RECORDS, SourceFixtureApi } from '../contract/source-fixture-api';
import { captureLog, FakeClock, type CapturedLog } from '../support/source-fakes';

/** Hands out token-1, token-2, ...: each renewal makes the next token current (as an OAuth2 auth would). */
class RotatingTokenAuth implements SourceAuth {
  readonly secretQueryParams: readonly string[] = [];
  renewals = 0;

  credentials(): Promise<Credentials> {
    return Promise.resolve({ headers: { Authorization: `Bearer token-${this.renewals + 1}` }, query: {} });
  }

  renew(): boolean {
    this.renewals += 1;
    return true;
  }
}

describe('HttpSourceClient with an auth that can renew refused credentials', () => {
  const api = new SourceFixtureApi();
  let baseUrl: string;
  let clock: FakeClock;
  let log: CapturedLog;
  const clients: HttpSourceClient[] = [];

  const client = (auth: SourceAuth, request: Record<string, unknown> = {}): HttpSourceClient => {
    const source = sourceSchema.parse({
      name: 'carts',
      mode: 'stream',
      request: { url: `${baseUrl}/secure`, recordsPath: 'items', minBackoff: 10, maxBackoff: 40, ...request },
      idField: 'id',
      table: 'carts',
    });
    const c = new HttpSourceClient(source, auth, { clock, logger: log.logger, random: () => 0 });
    clients.push(c);
    return c;
  };

  const fetchAll = async (c: HttpSourceClient): Promise<unknown[]> => {
    const records: unknown[] = [];
    for await (const page of c.fetchPages()) records.push(...page.records.map((r) => (r as { id: unknown }).id));
    return records;
  };

  const tokensSent = (): unknown[] => api.received.map((r) => r.headers.authorization);

  beforeAll(async () => {
    baseUrl = await api.start();
  });
  beforeEach(() => {
    api.reset();
    clock = new FakeClock();
    log = captureLog();
  });
  afterAll(async () => {
    for (const c of clients) c.close();
    await api.stop();
  });

  it('a 401 renews the credentials and sends the request once more, without a backoff or a try', async () => {
    api.guard = (req) => req.headers.authorization === 'Bearer token-2';
    const auth = new RotatingTokenAuth();
    const ids = await fetchAll(client(auth, { maxAttempts: 1 }));
    expect(ids).toEqual(FIXTURE_RECORDS.map((r) => r.id));
    expect(tokensSent()).toEqual(['Bearer token-1', 'Bearer token-2']);
    expect(clock.sleeps).toEqual([]);
    const fetched = log.lines.filter((l) => l['message'] === 'source page fetched');
    expect(fetched.map((l) => l['attempts'])).toEqual([1]);
    expect(log.lines.filter((l) => l['message'] === 'source refused the credentials, renewed them')).toHaveLength(1);
  });

  it('a second 401 for the same request is final', async () => {
    api.guard = () => false;
    const auth = new RotatingTokenAuth();
    let error: unknown;
    try {
      await fetchAll(client(auth));
    } catch (e: unknown) {
      error = e;
    }
    expect(error).toBeInstanceOf(SourceError);
    const { code, status, retryable } = error as SourceError;
    expect([code, status, retryable]).toEqual(['SOURCE.HTTP_STATUS', 401, false]);
    expect(auth.renewals).toBe(1);
    expect(tokensSent()).toEqual(['Bearer token-1', 'Bearer token-2']);
  });

  it('every page may renew once', async () => {
    // Single-use tokens: a token the server has seen before is refused.
    const seen = new Set<string | undefined>();
    api.guard = (req) => {
      const token = req.headers.authorization;
      const fresh = !seen.has(token);
      seen.add(token);
      return fresh;
    };
    const auth = new RotatingTokenAuth();
    const ids = await fetchAll(client(auth, { pagination: { type: 'offset', limit: 3 } }));
    expect(ids).toEqual(FIXTURE_RECORDS.map((r) => r.id));
    expect(tokensSent()).toEqual([
      'Bearer token-1',
      'Bearer token-1',
      'Bearer token-2',
      'Bearer token-2',
      'Bearer token-3',
    ]);
    expect(auth.renewals).toBe(2);
  });
});
