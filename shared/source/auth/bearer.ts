import { envVarSchema, readCredential } from './credential-env';
import { defineAuth, staticAuth } from './source-auth';

/** RFC 6750 §2.1: `Authorization: Bearer <token>`, the token from an environment variable. */
export const bearerAuth = defineAuth({
  type: 'bearer',
  description: 'A static token sent as Authorization: Bearer <token> (RFC 6750).',
  fields: {
    tokenEnv: envVarSchema.meta({ description: 'Environment variable holding the token.' }),
  },
  create: ({ tokenEnv }, context) =>
    staticAuth({ headers: { Authorization: `Bearer ${readCredential(context, 'tokenEnv', tokenEnv)}` }, query: {} }),
});
