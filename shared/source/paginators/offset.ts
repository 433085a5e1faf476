import { z } from 'zod';
import { DEFAULTS } from '../../config/defaults';
import { definePaginator, type PageRequest } from '../paginator';

/**
 * `GET /carts?offset=0&limit=100`, then `offset=100`, ... until a page holds fewer than `limit`
 * records. Advancing by what was received (not by `limit`) stays correct for an API that caps the
 * page size below what was asked.
 */
export const offsetPaginator = definePaginator({
  type: 'offset',
  description:
    'An offset and a page size in the query: GET /carts?offset=0&limit=100, then offset=100, ... A page shorter than limit is the last one.',
  fields: {
    offsetParam: z.string().default('offset').meta({ description: 'Query parameter of the offset (in records).' }),
    limitParam: z.string().default('limit').meta({ description: 'Query parameter of the page size.' }),
    limit: z
      .number()
      .int()
      .positive()
      .default(DEFAULTS.source.pagination.pageSize)
      .meta({ description: 'Records asked for per page.' }),
  },
  create: ({ offsetParam, limitParam, limit }) => {
    const at = (offset: number): PageRequest => ({
      query: { [offsetParam]: String(offset), [limitParam]: String(limit) },
    });
    return {
      first: () => at(0),
      next: ({ request, records }) =>
        records.length < limit || records.length === 0
          ? []
          : [at(Number(request.query[offsetParam] ?? 0) + records.length)],
    };
  },
});
