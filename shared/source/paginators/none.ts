import { definePaginator } from '../paginator';

/** The whole state in one response: `GET /products` → `[{...}, {...}]`. */
export const nonePaginator = definePaginator({
  type: 'none',
  description: 'One request; the response holds every record. Example: GET /products answers [{"id": 1}, ...].',
  fields: {},
  create: () => ({ first: () => ({ query: {} }), next: () => [] }),
});
