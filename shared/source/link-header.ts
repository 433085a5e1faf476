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
