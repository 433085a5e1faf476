import { z } from 'zod';
import { durationWithDefault, Duration } from '../../config/duration';
import { envVarSchema, readCredential } from './credential-env';
import { OAuth2TokenEndpoint, RESERVED_TOKEN_PARAMS, type TokenRequest } from './oauth2-token-endpoint';
import { OAuth2TokenCache } from './oauth2-token-cache';
import { defineAuth } from './source-auth';

/** Hosts a token may be asked from over plain http: the secret never leaves the machine. */
const LOOPBACK_HOSTS = new Set(['localhost', '127.0.0.1', '[::1]']);

const tokenUrlSchema = z.url().superRefine((value, ctx) => {
  const url = new URL(value);
  if (url.protocol === 'https:') return;
  if (url.protocol === 'http:' && LOOPBACK_HOSTS.has(url.hostname)) return;
  ctx.addIssue({
    code: 'custom',
    message: `the token URL must be https (plain http only to localhost): the client secret is sent to it, got ${url.protocol}//${url.host}`,
  });
});

const extraParamsSchema = z
  .record(z.string().min(1), z.string())
  .default({})
  .superRefine((params, ctx) => {
    for (const name of Object.keys(params)) {
      if ((RESERVED_TOKEN_PARAMS as readonly string[]).includes(name)) {
        ctx.addIssue({
          code: 'custom',
          path: [name],
          message: `"${name}" is set by the other auth keys (scopes, audience, clientIdEnv, clientSecretEnv), not here`,
        });
      }
    }
  });

/**
 * OAuth2 client credentials (RFC 6749 §4.4): a token from the token endpoint, cached until
 * shortly before it expires, fetched again when the API refuses it with a 401.
 */
export const oauth2ClientCredentialsAuth = defineAuth({
  type: 'oauth2ClientCredentials',
  description:
    'OAuth2 client credentials (RFC 6749 §4.4): a Bearer token from the token endpoint, cached until shortly before expires_in and fetched again once when the API answers 401. Neither the secret nor the token is logged.',
  fields: {
    tokenUrl: tokenUrlSchema.meta({
      description: 'The token endpoint; https, or http to localhost only.',
    }),
    clientIdEnv: envVarSchema.meta({ description: 'Environment variable holding the client id.' }),
    clientSecretEnv: envVarSchema.meta({ description: 'Environment variable holding the client secret.' }),
    clientAuthentication: z.enum(['basic', 'post']).default('basic').meta({
      description:
        'How the client authenticates to the token endpoint: `basic` (HTTP Basic, RFC 6749 §2.3.1) or `post` (client_id and client_secret in the form).',
    }),
    scopes: z
      .array(z.string().regex(/^[\x21\x23-\x5b\x5d-\x7e]+$/, 'a scope has no spaces or quotes'))
      .default([])
      .meta({
        description: 'Scopes asked for, sent space-separated as `scope`; none: the server’s default.',
      }),
    audience: z.string().min(1).optional().meta({
      description: 'Sent as `audience` (Auth0, Okta); for RFC 8707 resource indicators use `extraParams.resource`.',
    }),
    extraParams: extraParamsSchema.meta({
      description: 'Further form fields of the token request, e.g. `resource`; no secrets here.',
    }),
    refreshBefore: durationWithDefault(Duration.from({ seconds: 60 })).meta({
      description:
        'A token is replaced this long before its expires_in runs out (at most half its lifetime), so no request carries one that expires on the way.',
    }),
    timeout: durationWithDefault(Duration.from({ seconds: 30 })).meta({
      description: 'Per token request, from connect to the last byte.',
    }),
  },
  create: (config, context) => {
    const request: TokenRequest = {
      sourceName: context.sourceName,
      tokenUrl: config.tokenUrl,
      clientId: readCredential(context, 'clientIdEnv', config.clientIdEnv),
      clientSecret: readCredential(context, 'clientSecretEnv', config.clientSecretEnv),
      clientAuthentication: config.clientAuthentication,
      scopes: config.scopes,
      audience: config.audience,
      extraParams: config.extraParams,
      timeoutMs: config.timeout.totalOf('millisecond'),
    };
    const endpoint = new OAuth2TokenEndpoint();
    return new OAuth2TokenCache({
      issue: (signal) => endpoint.issue(request, signal),
      close: () => endpoint.close(),
      clock: context.clock,
      logger: context.logger,
      refreshBeforeMs: config.refreshBefore.totalOf('millisecond'),
    });
  },
});
