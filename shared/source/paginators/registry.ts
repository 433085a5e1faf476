import { z } from 'zod';
import { schemasOf } from '../config-block';
import type { Paginator, PaginatorContext } from '../paginator';
import { cursorPaginator } from './cursor';
import { linkPaginator } from './link';
import { nonePaginator } from './none';
import { offsetPaginator } from './offset';
import { pagePaginator } from './page';

/**
 * Every pagination style. A new style is one file in this folder (its `definePaginator`) and its
 * entry here; `request.pagination` accepts it, and the README tables and the editor schema, which
 * are generated from the config schema, describe it.
 */
const PAGINATORS = [nonePaginator, offsetPaginator, pagePaginator, cursorPaginator, linkPaginator] as const;

/** `request.pagination`: one of the registered styles, chosen by `type`. */
export const paginationSchema = z
  .discriminatedUnion('type', schemasOf(PAGINATORS))
  .meta({ description: 'How the pages of the response are walked; `type` selects the style.' });
export type Pagination = z.output<typeof paginationSchema>;

/** The names of the registered styles. */
export type PaginationType = Pagination['type'];
export const PAGINATION_TYPES: readonly PaginationType[] = PAGINATORS.map((p) => p.type);

type Factory = (config: Pagination, context: PaginatorContext) => Paginator;

// Each factory is only ever called with the config its own schema produced (the discriminated
// union picks the schema by `type`, and so does the lookup below); TypeScript cannot follow that
// correlation through a union of factories, hence the one cast.
const FACTORIES = Object.fromEntries(PAGINATORS.map((p) => [p.type, p.create])) as Record<PaginationType, Factory>;

/** Builds a fresh paginator for one fetch of a source whose `request.pagination` is `config`. */
export function createPaginator(config: Pagination, context: PaginatorContext): Paginator {
  return FACTORIES[config.type](config, context);
}
