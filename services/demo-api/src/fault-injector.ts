/** What the next matching requests to a path get instead of (or before) the real answer. */
export interface Fault {
  /** The request path it applies to, e.g. `/carts` (the query is ignored). */
  readonly path: string;
  /** How many requests it applies to. */
  readonly count: number;
  /** Answer with this status instead of the real handler. */
  readonly status?: number;
  /** `Retry-After` header value sent with `status`, e.g. "1" or an HTTP date. */
  readonly retryAfter?: string;
  /** Body sent with `status` (as is, text); a JSON error object when absent. */
  readonly body?: string;
  /** Wait this long before answering (real time: it simulates a slow server for timeouts). */
  readonly delayMs?: number;
}

/** Faults queued per path; each request to the path consumes one application of the first. */
export class FaultInjector {
  private readonly queues = new Map<string, { fault: Fault; left: number }[]>();

  add(fault: Fault): void {
    const queue = this.queues.get(fault.path) ?? [];
    queue.push({ fault, left: fault.count });
    this.queues.set(fault.path, queue);
  }

  clear(): void {
    this.queues.clear();
  }

  /** The fault for one request to `path`, consuming it; undefined when none is queued. */
  take(path: string): Fault | undefined {
    const queue = this.queues.get(path);
    const head = queue?.[0];
    if (queue === undefined || head === undefined) return undefined;
    head.left -= 1;
    if (head.left <= 0) queue.shift();
    if (queue.length === 0) this.queues.delete(path);
    return head.fault;
  }

  /** Faults still queued, for `GET /admin/faults`. */
  pending(): { path: string; left: number; fault: Fault }[] {
    return [...this.queues.values()].flatMap((queue) =>
      queue.map(({ fault, left }) => ({ path: fault.path, left, fault })),
    );
  }
}

/** Reads a fault from an admin request body, or returns the reason it is not one. */
export function parseFault(raw: unknown): Fault | string {
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) return 'expected a JSON object';
  const body = raw as Record<string, unknown>;
  const { path, count = 1, status, retryAfter, delayMs } = body;
  const text = body['body'];
  if (typeof path !== 'string' || !path.startsWith('/')) return 'path: expected a path such as "/carts"';
  if (typeof count !== 'number' || !Number.isInteger(count) || count < 1) return 'count: expected a whole number >= 1';
  if (
    status !== undefined &&
    (typeof status !== 'number' || !Number.isInteger(status) || status < 100 || status > 599)
  ) {
    return 'status: expected an HTTP status 100..599';
  }
  if (retryAfter !== undefined && typeof retryAfter !== 'string' && typeof retryAfter !== 'number') {
    return 'retryAfter: expected seconds or an HTTP date';
  }
  if (delayMs !== undefined && (typeof delayMs !== 'number' || delayMs < 0 || delayMs > 600_000)) {
    return 'delayMs: expected milliseconds 0..600000';
  }
  if (text !== undefined && typeof text !== 'string') return 'body: expected a string';
  if (status === undefined && delayMs === undefined) return 'expected status, delayMs or both';
  return {
    path,
    count,
    ...(status === undefined ? {} : { status }),
    ...(retryAfter === undefined ? {} : { retryAfter: String(retryAfter) }),
    ...(text === undefined ? {} : { body: text }),
    ...(delayMs === undefined ? {} : { delayMs }),
  };
}
