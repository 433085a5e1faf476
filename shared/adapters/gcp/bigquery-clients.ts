import { BigQuery, type BigQueryOptions } from '@google-cloud/bigquery';
import { managedwriter } from '@google-cloud/bigquery-storage';
import { OAuth2Client } from 'google-auth-library';
import { googleAuthLibrary, grpc, type ClientOptions } from 'google-gax';
import type { GcpConfig } from '../../config';

/** The two clients the BigQuery warehouse needs: REST (tables, jobs, queries) and Storage Write (gRPC). */
export interface BigQueryClients {
  readonly bigquery: BigQuery;
  readonly writer: managedwriter.WriterClient;
}

/**
 * The REST client's constructor, replaceable for one reason: under jest the client cannot make
 * requests (its HTTP layer, teeny-request 10, does `import('node-fetch')`, which jest's VM refuses
 * without `--experimental-vm-modules`), so the integration tests pass the same package loaded by
 * Node's own `require`.
 */
export interface BigQuerySdk {
  readonly BigQuery: typeof BigQuery;
}

/**
 * Builds the BigQuery clients from `gcp.bigquery` in the config. With no endpoints configured,
 * both talk to Google with Application Default Credentials.
 *
 * Emulators (`apiEndpoint` with `http:`, `storageWriteEndpoint`):
 * - REST: the endpoint is spoken without credentials (a placeholder token, never a real one over
 *   plain HTTP). The base URL is set from `apiEndpoint` explicitly, because the Node client
 *   otherwise takes `BIGQUERY_EMULATOR_HOST`, when set, verbatim as its base URL, which then
 *   needs a scheme and the `/bigquery/v2` path (`127.0.0.1:9050` alone breaks every request).
 * - Storage Write: the gRPC client reads no emulator variable at all, so the endpoint comes from
 *   config and is spoken without TLS (`grpc.credentials.createInsecure()` as `sslCreds`).
 *
 * An `https:` `apiEndpoint` (a private endpoint) keeps normal authentication.
 */
export function createBigQueryClients(
  config: GcpConfig['bigquery'],
  projectId: string,
  sdk: BigQuerySdk = { BigQuery },
): BigQueryClients {
  const restEndpoint = config.apiEndpoint?.replace(/\/+$/, '');
  const plainHttp = restEndpoint?.startsWith('http:') ?? false;
  const restOptions: BigQueryOptions = { projectId, location: config.location };
  if (restEndpoint !== undefined) restOptions.apiEndpoint = restEndpoint;
  if (plainHttp) restOptions.authClient = noCredentials();
  const bigquery = new sdk.BigQuery(restOptions);
  if (restEndpoint !== undefined) bigquery.baseUrl = `${restEndpoint}/bigquery/v2`;

  const writeOptions: ClientOptions = { projectId, ...WRITER_CHANNEL_OPTIONS };
  if (config.storageWriteEndpoint !== undefined) {
    const { host, port } = splitHostPort(config.storageWriteEndpoint);
    writeOptions.apiEndpoint = host;
    writeOptions.port = port;
    writeOptions.sslCreds = grpc.credentials.createInsecure();
    // Also keeps the client from probing for credentials (and the metadata server) it will not use.
    // (gax's own copy of google-auth-library, whose client type it expects.)
    writeOptions.authClient = new googleAuthLibrary.OAuth2Client({ credentials: EMULATOR_CREDENTIALS });
  }
  const writer = new managedwriter.WriterClient(writeOptions);
  return { bigquery, writer };
}

/**
 * A refused gRPC channel fails new calls at once until its reconnect backoff ends (gax starts it
 * at 1 s, grpc-js grows it to 120 s): capped at 2 s, so the appender's retries
 * (`RECONNECT_DELAYS_MS`) outlast it and the first append after an outage lands.
 */
const WRITER_CHANNEL_OPTIONS = {
  'grpc.initial_reconnect_backoff_ms': 250,
  'grpc.max_reconnect_backoff_ms': 2000,
} as const;

/** A token that is never refreshed or checked: emulators accept any. */
const EMULATOR_CREDENTIALS = { access_token: 'emulator' };

/** An auth client that never fetches a token. */
function noCredentials(): OAuth2Client {
  return new OAuth2Client({ credentials: EMULATOR_CREDENTIALS });
}

function splitHostPort(hostPort: string): { host: string; port: number } {
  const colon = hostPort.lastIndexOf(':');
  return { host: hostPort.slice(0, colon), port: Number(hostPort.slice(colon + 1)) };
}
