import { z } from 'zod';
import { dotPathSchema, readPath } from '../dot-path';
import { definePaginator } from '../paginator';

/**
 * `GET /carts` → `{ "carts": [...], "nextCursor": "c2" }`, then `GET /carts?cursor=c2`, ... until
 * the token is absent, null or "". A token that is not a string is sent as its JSON.
 */
export const cursorPaginator = definePaginator({
  type: 'cursor',
  description:
    'A token in the body names the next page: GET /carts answers {"carts": [...], "nextCursor": "c2"}, then GET /carts?cursor=c2, ... An absent, null or empty token ends the pages.',
  fields: {
    cursorParam: z.string().default('cursor').meta({ description: 'Query parameter that sends the token.' }),
    nextCursorPath: dotPathSchema.meta({
      description: 'Dot path of the next page token in the response body, e.g. meta.next.',
    }),
  },
  create: ({ cursorParam, nextCursorPath }) => ({
    first: () => ({ query: {} }),
    next: ({ body }) => {
      const cursor = readPath(body, nextCursorPath);
      if (cursor === undefined || cursor === null || cursor === '') return [];
      const token = typeof cursor === 'string' ? cursor : JSON.stringify(cursor);
      return [{ query: { [cursorParam]: token } }];
    },
  }),
});
