// A real OAuth2 authorization server for the tests: node-oidc-provider with the client-credentials
// grant, introspection and revocation enabled. It runs as its own process because oidc-provider
// is ESM-only and jest loads the tests as CommonJS. It reads its clients from the JSON in
// OAUTH2_SERVER_CONFIG, listens on 127.0.0.1 at an ephemeral port and prints
// `listening <port>` on stdout once it accepts connections.
import http from 'node:http';
import Provider from 'oidc-provider';

const config = JSON.parse(process.env.OAUTH2_SERVER_CONFIG ?? '{}');
const server = http.createServer();
await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
const { port } = server.address();
const issuer = `http://127.0.0.1:${port}`;

const provider = new Provider(issuer, {
  clients: config.clients,
  scopes: config.scopes ?? [],
  cookies: { keys: ['changefeed-tests-only-cookie-key'] },
  features: {
    devInteractions: { enabled: false },
    clientCredentials: { enabled: true },
    introspection: { enabled: true, allowedPolicy: async () => true },
    revocation: { enabled: true, allowedPolicy: async () => true },
    resourceIndicators: {
      enabled: true,
      // A token is for one API: the `resource` the client asks for (RFC 8707), opaque, with the
      // client's scopes that API knows.
      defaultResource: () => undefined,
      useGrantedResource: () => false,
      getResourceServerInfo: (_ctx, resource) => ({
        scope: (config.scopes ?? []).join(' '),
        accessTokenFormat: 'opaque',
        audience: resource,
      }),
    },
  },
  ttl: { ClientCredentials: () => config.tokenTtlSeconds ?? 600 },
});
// Tests read refusals from the HTTP answers; the provider's own console noise is not wanted.
provider.on('server_error', (_ctx, error) => process.stderr.write(`oauth2 server error: ${error.stack}\n`));
server.on('request', provider.callback());
process.stdout.write(`listening ${port}\n`);
// Closing the server leaves nothing to keep the process alive, so it ends by itself.
process.on('SIGTERM', () => {
  server.closeAllConnections();
  server.close();
});
