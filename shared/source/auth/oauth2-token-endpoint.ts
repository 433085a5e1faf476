import http from 'node:http';
import https from 'node:https';
import axios, { type AxiosInstance } from 'axios';
import { redactUrl } from '../../http';
import { SourceError, SourceErrorCode } from '../source-error';

/** How the client proves itself to the token endpoint (RFC 6749 §2.3.1). */
export type ClientAuthentication = 'basic' | 'post';

export interface TokenRequest {
  readonly sourceName: string;
  readonly tokenUrl: string;
  readonly clientId: string;
  readonly clientSecret: string;
  readonly clientAuthentication: ClientAuthentication;
  readonly scopes: readonly string[];
  readonly audience: string | undefined;
  readonly extraParams: Readonly<Record<string, string>>;
  readonly timeoutMs: number;
}

/** A token as the endpoint issued it; `expiresInMs` is absent when the server did not say. */
export interface IssuedToken {
  readonly accessToken: string;
  readonly expiresInMs: number | undefined;
}

/** The parameters a client-credentials token request is made of, besides the client's own. */
export const RESERVED_TOKEN_PARAMS = ['grant_type', 'client_id', 'client_secret', 'scope', 'audience'] as const;

/** An error_description is the server's prose; more than this is cut from the message. */
const MAX_DESCRIPTION_CHARS = 200;

/** Token answers larger than this are refused: a token is a few KiB, not a download. */
const MAX_TOKEN_RESPONSE_BYTES = 64 * 1024;

/**
 * The form body of a client-credentials token request (RFC 6749 §4.4.2): the grant, the scopes
 * joined by spaces, `audience` (Auth0, Okta and others name the API this way) and the extra
 * fields; with `post` client authentication the client's id and secret too (§2.3.1).
 */
export function tokenRequestBody(request: TokenRequest): URLSearchParams {
  const form = new URLSearchParams({ grant_type: 'client_credentials' });
  if (request.scopes.length > 0) form.set('scope', request.scopes.join(' '));
  if (request.audience !== undefined) form.set('audience', request.audience);
  for (const [name, value] of Object.entries(request.extraParams)) form.set(name, value);
  if (request.clientAuthentication === 'post') {
    form.set('client_id', request.clientId);
    form.set('client_secret', request.clientSecret);
  }
  return form;
}

/**
 * RFC 6749 §2.3.1: the id and the secret are each form-urlencoded before they are joined and
 * base64-encoded, which plain `user:password` Basic auth does not do.
 */
export function basicClientCredentials(clientId: string, clientSecret: string): string {
  const encode = (value: string): string => new URLSearchParams({ v: value }).toString().slice(2);
  return `Basic ${Buffer.from(`${encode(clientId)}:${encode(clientSecret)}`, 'utf8').toString('base64')}`;
}

/**
 * Asks a token endpoint for client-credentials tokens. Neither the secret nor a token ever reaches
 * an error message: a refusal is reported by the endpoint's `error` code and description (§5.2).
 */
export class OAuth2TokenEndpoint {
  private readonly http: AxiosInstance;
  private readonly agents: readonly (http.Agent | https.Agent)[];

  constructor() {
    const httpAgent = new http.Agent({ keepAlive: true });
    const httpsAgent = new https.Agent({ keepAlive: true });
    this.agents = [httpAgent, httpsAgent];
    this.http = axios.create({
      httpAgent,
      httpsAgent,
      validateStatus: () => true,
      responseType: 'arraybuffer',
      transformResponse: [(data: unknown) => data],
      proxy: false,
      // A token endpoint that redirects would make axios resend the form, secret included, to
      // wherever it points; refuse instead.
      maxRedirects: 0,
      maxContentLength: MAX_TOKEN_RESPONSE_BYTES,
    });
  }

  async issue(request: TokenRequest, signal?: AbortSignal): Promise<IssuedToken> {
    const where = `source "${request.sourceName}": auth.tokenUrl ${redactUrl(request.tokenUrl)}`;
    const deadline = AbortSignal.timeout(request.timeoutMs);
    const combined = signal === undefined ? deadline : AbortSignal.any([signal, deadline]);
    let status: number;
    let text: string;
    try {
      const response = await this.http.post<Buffer>(request.tokenUrl, tokenRequestBody(request).toString(), {
        headers: {
          Accept: 'application/json',
          'Content-Type': 'application/x-www-form-urlencoded',
          ...(request.clientAuthentication === 'basic'
            ? { Authorization: basicClientCredentials(request.clientId, request.clientSecret) }
            : {}),
        },
        signal: combined,
      });
      status = response.status;
      text = Buffer.from(response.data).toString('utf8');
    } catch (e: unknown) {
      if (signal?.aborted === true) throw e;
      const reason = deadline.aborted ? `timed out after ${request.timeoutMs} ms` : `failed with ${axiosCode(e)}`;
      // Not the axios error as the cause: its `config` holds the request's headers and form,
      // the secret among them, and a logger that walks causes would print it.
      throw this.error(request, `${where} ${reason}`, true);
    }
    const body = parseObject(text);
    if (status < 200 || status >= 300) {
      const error = typeof body?.['error'] === 'string' ? body['error'] : undefined;
      const described = body?.['error_description'];
      const description = typeof described === 'string' ? `: ${described.slice(0, MAX_DESCRIPTION_CHARS)}` : '';
      const refusal = error === undefined ? '' : ` (${error}${description})`;
      // §5.2: invalid_client, invalid_scope and the like do not heal by asking again; a
      // server that is down or overloaded may.
      const transient = status >= 500 || status === 429 || status === 408;
      throw this.error(request, `${where} answered HTTP ${status}${refusal}`, transient, status);
    }
    const accessToken = body?.['access_token'];
    const tokenType = body?.['token_type'];
    if (typeof accessToken !== 'string' || accessToken === '') {
      throw this.error(request, `${where} answered without an access_token`, false);
    }
    // RFC 6750: only Bearer tokens are sent as `Authorization: Bearer`; a DPoP or MAC token
    // would be refused by the API with a 401 that renewing cannot fix.
    if (typeof tokenType !== 'string' || tokenType.toLowerCase() !== 'bearer') {
      throw this.error(request, `${where} issued a token of type ${JSON.stringify(tokenType)}, not Bearer`, false);
    }
    return { accessToken, expiresInMs: expiresInMs(body?.['expires_in']) };
  }

  close(): void {
    for (const agent of this.agents) agent.destroy();
  }

  private error(request: TokenRequest, message: string, retryable: boolean, status?: number): SourceError {
    return new SourceError(
      SourceErrorCode.tokenRequest,
      message,
      { source: request.sourceName, url: redactUrl(request.tokenUrl), ...(status === undefined ? {} : { status }) },
      { retryable },
    );
  }
}

/** `expires_in` in milliseconds: seconds as a number, or as a numeric string as some servers send. */
function expiresInMs(value: unknown): number | undefined {
  const seconds = typeof value === 'string' && /^\d+$/.test(value) ? Number(value) : value;
  return typeof seconds === 'number' && Number.isFinite(seconds) && seconds > 0 ? seconds * 1000 : undefined;
}

function parseObject(text: string): Record<string, unknown> | undefined {
  try {
    const value: unknown = JSON.parse(text);
    return value !== null && typeof value === 'object' && !Array.isArray(value)
      ? (value as Record<string, unknown>)
      : undefined;
  } catch {
    return undefined;
  }
}

function axiosCode(e: unknown): string {
  return axios.isAxiosError(e) ? (e.code ?? 'an unknown network error') : 'an unknown error';
}
