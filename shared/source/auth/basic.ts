import { envVarSchema, readCredential } from './credential-env';
import { defineAuth, staticAuth } from './source-auth';

/** RFC 7617 HTTP Basic: `Authorization: Basic base64(user:password)`, both from environment variables. */
export const basicAuth = defineAuth({
  type: 'basic',
  description: 'HTTP Basic auth (RFC 7617): Authorization: Basic base64(username:password).',
  fields: {
    usernameEnv: envVarSchema.meta({ description: 'Environment variable holding the username.' }),
    passwordEnv: envVarSchema.meta({ description: 'Environment variable holding the password.' }),
  },
  create: ({ usernameEnv, passwordEnv }, context) => {
    const user = readCredential(context, 'usernameEnv', usernameEnv);
    const password = readCredential(context, 'passwordEnv', passwordEnv);
    // RFC 7617 §2.1: base64 of "user:password" in UTF-8.
    const token = Buffer.from(`${user}:${password}`, 'utf8').toString('base64');
    return staticAuth({ headers: { Authorization: `Basic ${token}` }, query: {} });
  },
});
