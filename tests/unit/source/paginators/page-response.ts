import { createSilentLogger } from '@changefeed/shared/log';
import {
  createPaginator,
  paginationSchema,
  type PageRequest,
  type PageResponse,
  type Paginator,
} from '@changefeed/shared/source';

export const PAGE_URL = 'http://api.test/items';

/** The paginator a source with this `request.pagination` block (as written in YAML) gets. */
export function paginatorFor(block: Record<string, unknown>): Paginator {
  return createPaginator(paginationSchema.parse(block), { sourceName: 'carts', logger: createSilentLogger() });
}

/** A 200 response to `request` holding `records` records `{ id: i }`. */
export function pageResponse(request: PageRequest, records: number, extra: Partial<PageResponse> = {}): PageResponse {
  return {
    request,
    url: PAGE_URL,
    status: 200,
    headers: {},
    body: {},
    records: Array.from({ length: records }, (_, i) => ({ id: i })),
    ...extra,
  };
}

/** The one request that follows, failing the test when the paginator made known none or several. */
export function onlyNext(requests: readonly PageRequest[]): PageRequest {
  expect(requests).toHaveLength(1);
  return requests[0] as PageRequest;
}
