import { z } from 'zod';
import { DEFAULTS } from '../../config/defaults';
import { definePaginator, type PageRequest } from '../paginator';

/** `GET /carts?page=1&pageSize=10`, then `page=2`, ... until a page holds fewer than `size` records. */
export const pagePaginator = definePaginator({
  type: 'page',
  description:
    'A page number in the query: GET /carts?page=1&pageSize=10, then page=2, ... A page shorter than size is the last one.',
  fields: {
    pageParam: z.string().default('page').meta({ description: 'Query parameter of the page number.' }),
    sizeParam: z
      .string()
      .optional()
      .meta({ description: 'Query parameter of the page size; absent: the size is not sent (the API default).' }),
    size: z
      .number()
      .int()
      .positive()
      .default(DEFAULTS.source.pagination.pageSize)
      .meta({ description: 'Records per page: a page with fewer is the last one.' }),
    firstPage: z.number().int().nonnegative().default(1).meta({ description: 'The number of the first page.' }),
  },
  create: ({ pageParam, sizeParam, size, firstPage }) => {
    const at = (page: number): PageRequest => ({
      query:
        sizeParam === undefined
          ? { [pageParam]: String(page) }
          : { [pageParam]: String(page), [sizeParam]: String(size) },
    });
    return {
      first: () => at(firstPage),
      next: ({ request, records }) =>
        records.length < size || records.length === 0 ? [] : [at(Number(request.query[pageParam] ?? firstPage) + 1)],
    };
  },
});
