import { defineAuth, staticAuth } from './source-auth';

/** A public API: nothing is added to the requests. */
export const noneAuth = defineAuth({
  type: 'none',
  description: 'No credentials: a public API.',
  fields: {},
  create: () => staticAuth({ headers: {}, query: {} }),
});
