import { nextLink } from '../link-header';
import { definePaginator } from '../paginator';

/**
 * RFC 8288 web linking, as GitHub's API does it: `Link: <https://api.github.com/repos?page=2>;
 * rel="next"`. A relative target resolves against the page's URL; no `rel="next"` ends the pages.
 */
export const linkPaginator = definePaginator({
  type: 'link',
  description:
    'RFC 8288 Link headers, as GitHub answers: Link: <https://api.github.com/user/repos?page=2>; rel="next". The pages end when there is no rel="next" link; relative targets resolve against the page URL.',
  fields: {},
  create: () => ({
    first: () => ({ query: {} }),
    next: ({ headers, url }) => {
      const target = nextLink(headers['link']);
      return target === undefined ? [] : [{ url: new URL(target, url).toString(), query: {} }];
    },
  }),
});
