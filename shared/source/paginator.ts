import type { z } from 'zod';
import type { Logger } from '../log';
import { configBlock, type BlockFields, type ConfigBlock } from './config-block';

/** What one page request adds to the source's configured request. */
export interface PageRequest {
  /** A URL to fetch instead of the configured one (a `Link: rel="next"` target), already absolute. */
  readonly url?: string;
  /** Query parameters to set on the request, e.g. `{ offset: '200', limit: '100' }`. */
  readonly query: Readonly<Record<string, string>>;
}

/** Everything a page's response says, for the paginator to decide what follows. */
export interface PageResponse {
  /** The request this response answers. */
  readonly request: PageRequest;
  /** The absolute URL the page was fetched from, to resolve relative targets against. */
  readonly url: string;
  readonly status: number;
  /** Response headers, names lower-cased, a repeated header's values joined with ", ". */
  readonly headers: Readonly<Record<string, string>>;
  /** The parsed JSON body. */
  readonly body: unknown;
  /** The records the source's `recordsPath` selected from the body. */
  readonly records: readonly unknown[];
}

/**
 * One pagination style for one fetch of a source, kept apart from HTTP so it is tested with plain
 * values (dlt's paginator model: `init_request`, then `update_state(response)` and
 * `update_request(request)` folded into `next`). A paginator may keep state between pages: a new
 * one is made for every fetch.
 */
export interface Paginator {
  /** The first page's request. */
  first(): PageRequest;
  /**
   * The requests this page's response makes known, in page order: none after the last page, one
   * for a style that learns the next page from the current one. A style that learns every
   * remaining page at once (a total count) returns them all; they do not depend on each other.
   */
  next(response: PageResponse): readonly PageRequest[];
}

/** What a paginator may need besides its config. */
export interface PaginatorContext {
  readonly sourceName: string;
  /** The source's logger, for a style that has something to warn about. */
  readonly logger: Logger;
}

/** One pagination style as the registry holds it: its config block and how to build it. */
export interface PaginatorDefinition<T extends string = string, F extends BlockFields = BlockFields> {
  readonly type: T;
  readonly schema: ConfigBlock<T, F>;
  readonly create: (config: z.output<ConfigBlock<T, F>>, context: PaginatorContext) => Paginator;
}

/**
 * Declares a pagination style: its `type`, what it is for (shown in the README and the editor
 * schema, with a worked example of an API it fits), its config fields (each with its own
 * `.meta({ description })`) and its factory. Register the result in `paginators/registry.ts`.
 */
export function definePaginator<const T extends string, F extends BlockFields>(spec: {
  readonly type: T;
  readonly description: string;
  readonly fields: F;
  readonly create: (config: z.output<ConfigBlock<T, F>>, context: PaginatorContext) => Paginator;
}): PaginatorDefinition<T, F> {
  return { type: spec.type, schema: configBlock(spec.type, spec.description, spec.fields), create: spec.create };
}
