import type { Pagination } from '../config';
import { readPath } from './dot-path';

/** What one page request adds to the base request. */
export interface PageRequest {
  /** A URL to fetch instead of the configured one (a `Link: rel="next"` target), already absolute. */
  readonly url?: string;
  /** Query parameters to set on the request, e.g. `{ offset: '200', limit: '100' }`. */
  readonly query: Readonly<Record<string, string>>;
}

/** What a page's response says about the next page. */
export interface PageResponse {
  readonly records: readonly unknown[];
  /** The parsed JSON body. */
  readonly body: unknown;
  readonly linkHeader: string | undefined;
  /** The absolute URL this page was fetched from, to resolve relative `Link` targets against. */
  readonly url: string;
}

/**
 * The pagination rules, kept apart from HTTP so each style is tested with plain values:
 * `first()` is the first page's request, `next(request, response)` the following one or null
 * when the response was the last page.
 */
export interface Paginator {
  first(): PageRequest;
  next(request: PageRequest, response: PageResponse): PageRequest | null;
}

/** Builds the paginator for a source's `request.pagination`. */
export function createPaginator(pagination: Pagination): Paginator {
  switch (pagination.type) {
    case 'none':
      return { first: () => ({ query: {} }), next: () => null };

    case 'offset': {
      const { offsetParam, limitParam, limit } = pagination;
      const at = (offset: number): PageRequest => ({
        query: { [offsetParam]: String(offset), [limitParam]: String(limit) },
      });
      return {
        first: () => at(0),
        // A short page is the last one; advancing by what was received (not by `limit`) stays
        // correct for an API that caps the page size below what was asked.
        next: (request, response) =>
          response.records.length < limit || response.records.length === 0
            ? null
            : at(Number(request.query[offsetParam] ?? 0) + response.records.length),
      };
    }

    case 'page': {
      const { pageParam, sizeParam, size, firstPage } = pagination;
      const at = (page: number): PageRequest => ({
        query:
          sizeParam === undefined
            ? { [pageParam]: String(page) }
            : { [pageParam]: String(page), [sizeParam]: String(size) },
      });
      return {
        first: () => at(firstPage),
        next: (request, response) =>
          response.records.length < size || response.records.length === 0
            ? null
            : at(Number(request.query[pageParam] ?? firstPage) + 1),
      };
    }

    case 'cursor': {
      const { cursorParam, nextCursorPath } = pagination;
      return {
        first: () => ({ query: {} }),
        next: (_request, response) => {
          const cursor = readPath(response.body, nextCursorPath);
          if (cursor === undefined || cursor === null || cursor === '') return null;
          const token = typeof cursor === 'string' ? cursor : JSON.stringify(cursor);
          return { query: { [cursorParam]: token } };
        },
      };
    }

    case 'link':
      return {
        first: () => ({ query: {} }),
        next: (_request, response) => {
          const target = nextLink(response.linkHeader);
          return target === undefined ? null : { url: new URL(target, response.url).toString(), query: {} };
        },
      };
  }
}

/**
 * The target of the `rel="next"` link in a `Link` header (RFC 8288 §3), as written (it may be
 * relative). Handles several links in one header, quoted or bare rel values, and rel lists such
 * as `rel="next last"`.
 */
export function nextLink(header: string | undefined): string | undefined {
  if (header === undefined) return undefined;
  for (const link of parseLinkHeader(header)) {
    const rel = link.params.get('rel');
    if (rel !== undefined && rel.toLowerCase().split(/\s+/).includes('next')) return link.target;
  }
  return undefined;
}

interface LinkValue {
  readonly target: string;
  /** Parameter names lower-cased; the first occurrence wins (RFC 8288 §3.3 for rel). */
  readonly params: ReadonlyMap<string, string>;
}

/**
 * Splits a `Link` header into its links. A small scanner rather than a regex because quoted
 * parameter values may hold `,` and `;` (`title="Next, please"`).
 */
function parseLinkHeader(header: string): LinkValue[] {
  const links: LinkValue[] = [];
  let i = 0;
  while (i < header.length) {
    const open = header.indexOf('<', i);
    if (open < 0) break;
    const close = header.indexOf('>', open + 1);
    if (close < 0) break;
    const target = header.slice(open + 1, close).trim();
    const params = new Map<string, string>();
    i = close + 1;
    while (i < header.length) {
      while (i < header.length && /\s/.test(header[i] ?? '')) i++;
      if (header[i] !== ';') break;
      i++;
      let name = '';
      while (i < header.length && !/[=;,]/.test(header[i] ?? '')) name += header[i++];
      let value = '';
      if (header[i] === '=') {
        i++;
        while (i < header.length && /\s/.test(header[i] ?? '')) i++;
        if (header[i] === '"') {
          i++;
          while (i < header.length && header[i] !== '"') {
            if (header[i] === '\\') i++;
            value += header[i++] ?? '';
          }
          i++;
        } else {
          while (i < header.length && !/[;,]/.test(header[i] ?? '')) value += header[i++];
        }
      }
      const key = name.trim().toLowerCase();
      if (key !== '' && !params.has(key)) params.set(key, value.trim());
    }
    links.push({ target, params });
    // Skip to the next link (after a comma outside quotes: quoted values were consumed above).
    const comma = header.indexOf(',', i);
    if (comma < 0) break;
    i = comma + 1;
  }
  return links;
}
