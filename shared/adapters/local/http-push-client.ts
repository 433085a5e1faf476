import http from 'node:http';
import https from 'node:https';
import { errorMessage } from '../../errors';

/** How much of a failed push's response body is kept as its error text. */
const ERROR_SNIPPET_CHARS = 200;

/** The outcome of one push request: acked (2xx), or failed with a status and text for logs and dead letters. */
export type PushResult =
  | { readonly ok: true; readonly status: number }
  | { readonly ok: false; readonly status: number | null; readonly error: string };

export interface HttpPushClientOptions {
  /** At most this many connections (and so requests in flight) at once. */
  readonly maxSockets: number;
  /** The whole exchange, connect to response status, must fit in this; longer counts as failed. */
  readonly ackDeadlineMs: number;
  /** Sent as the `Authorization` header of every request (the local bus's `Bearer <secret>`); never logged. */
  readonly authorization?: string;
}

/**
 * POSTs JSON bodies to one push endpoint over kept-alive connections, as Pub/Sub push does:
 * a 2xx answer acks; any other status, a connection error, or no answer within the ack deadline
 * is a failed delivery. https://cloud.google.com/pubsub/docs/push#receive_push
 * Never rejects: every failure becomes a `PushResult`.
 */
export class HttpPushClient {
  private readonly url: URL;
  private readonly transport: typeof http | typeof https;
  private readonly agent: http.Agent;

  constructor(
    endpoint: string,
    private readonly options: HttpPushClientOptions,
  ) {
    this.url = new URL(endpoint);
    const secure = this.url.protocol === 'https:';
    this.transport = secure ? https : http;
    const agentOptions = { keepAlive: true, maxSockets: options.maxSockets };
    this.agent = secure ? new https.Agent(agentOptions) : new http.Agent(agentOptions);
  }

  push(body: string): Promise<PushResult> {
    return this.send(body, true);
  }

  /** Closes idle connections; requests still in flight are cut. */
  close(): void {
    this.agent.destroy();
  }

  private send(body: string, mayRetryStaleSocket: boolean): Promise<PushResult> {
    return new Promise<PushResult>((resolve) => {
      let settled = false;
      const settle = (result: PushResult | 'stale-socket'): void => {
        if (settled) return;
        settled = true;
        clearTimeout(deadline);
        if (result === 'stale-socket') resolve(this.send(body, false));
        else resolve(result);
      };
      const request = this.transport.request(
        this.url,
        {
          method: 'POST',
          agent: this.agent,
          headers: {
            'content-type': 'application/json',
            'content-length': Buffer.byteLength(body),
            ...(this.options.authorization === undefined ? {} : { authorization: this.options.authorization }),
          },
        },
        (response) => {
          const status = response.statusCode ?? 0;
          // Node never surfaces a 1xx (102 Processing included) as the final response.
          if (status >= 200 && status < 300) {
            response.resume();
            settle({ ok: true, status });
            return;
          }
          readSnippet(response, (snippet) => {
            settle({ ok: false, status, error: snippet === '' ? `HTTP ${status}` : `HTTP ${status}: ${snippet}` });
          });
        },
      );
      const deadline = setTimeout(() => {
        settle({
          ok: false,
          status: null,
          error: `no answer within the ack deadline of ${this.options.ackDeadlineMs} ms`,
        });
        request.destroy();
      }, this.options.ackDeadlineMs);
      request.on('error', (e: NodeJS.ErrnoException) => {
        // A kept-alive socket the server closed while idle fails on reuse before the request
        // reached it; one more try on a fresh connection is what Node's docs recommend.
        // https://nodejs.org/api/http.html#requestreusedsocket
        if (mayRetryStaleSocket && request.reusedSocket && e.code === 'ECONNRESET') settle('stale-socket');
        else settle({ ok: false, status: null, error: errorMessage(e) });
      });
      request.end(body);
    });
  }
}

/** Reads at most ERROR_SNIPPET_CHARS of a body as one line of text, then drops the rest. */
function readSnippet(response: http.IncomingMessage, done: (snippet: string) => void): void {
  let text = '';
  response.setEncoding('utf8');
  response.on('data', (chunk: string) => {
    if (text.length < ERROR_SNIPPET_CHARS) text += chunk;
  });
  const finish = (): void => {
    const line = text.replace(/\s+/g, ' ').trim();
    done(line.length > ERROR_SNIPPET_CHARS ? `${line.slice(0, ERROR_SNIPPET_CHARS)}…` : line);
  };
  response.on('end', finish);
  response.on('error', finish);
  response.on('aborted', finish);
}
