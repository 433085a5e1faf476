import { z } from 'zod';
import { envVarSchema, readCredential } from './credential-env';
import { defineAuth, staticAuth } from './source-auth';

/**
 * A key in a header (`X-Api-Key: k-123`) or in the query (`?appid=k-123`, as OpenWeatherMap
 * wants it); a key in the query is redacted from every logged URL and error message.
 */
export const apiKeyAuth = defineAuth({
  type: 'apiKey',
  description:
    'An API key in a header (X-Api-Key: <key>) or a query parameter (?appid=<key>); a key in the query is redacted from logs and errors.',
  fields: {
    in: z.enum(['header', 'query']).default('header').meta({ description: 'Where the key is sent.' }),
    name: z.string().min(1).meta({ description: 'The header or query parameter name, e.g. X-Api-Key.' }),
    valueEnv: envVarSchema.meta({ description: 'Environment variable holding the key.' }),
  },
  create: (config, context) => {
    const value = readCredential(context, 'valueEnv', config.valueEnv);
    return config.in === 'header'
      ? staticAuth({ headers: { [config.name]: value }, query: {} })
      : staticAuth({ headers: {}, query: { [config.name]: value } }, [config.name]);
  },
});
