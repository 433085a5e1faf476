import { CURRENT_STATE } from './tables';

/**
 * SQL fragments for `_current`, rendered from `CURRENT_STATE` and common to DuckDB and GoogleSQL
 * (both accept these expressions); each adapter quotes names its own way.
 */

type Quote = (name: string) => string;

/** `ORDER BY` terms that put an entity's latest event first. */
export function latestFirstOrder(quote: Quote): string {
  return CURRENT_STATE.latestFirst.map((t) => `${quote(t.column)} ${t.direction.toUpperCase()}`).join(', ');
}

/** `ORDER BY` terms that put an entity's first event first (the reverse of `latestFirstOrder`). */
export function earliestFirstOrder(quote: Quote): string {
  return CURRENT_STATE.latestFirst
    .map((t) => `${quote(t.column)} ${t.direction === 'desc' ? 'ASC' : 'DESC'}`)
    .join(', ');
}

/** `ORDER BY` terms that put the copy of a redelivered event that counts first. */
export function duplicateFirstOrder(quote: Quote): string {
  return CURRENT_STATE.duplicateFirst.map((t) => `${quote(t.column)} ${t.direction.toUpperCase()}`).join(', ');
}

/** The entity key as a comma-separated column list. */
export function entityKey(quote: Quote): string {
  return CURRENT_STATE.key.map(quote).join(', ');
}

/** `a.k1 = b.k1 AND a.k2 = b.k2` over the entity key. */
export function sameEntity(a: string, b: string, quote: Quote): string {
  return CURRENT_STATE.key.map((k) => `${a}.${quote(k)} = ${b}.${quote(k)}`).join(' AND ');
}

/**
 * True when the event in `a` is strictly later than the one in `b` (a lexicographic comparison
 * over `CURRENT_STATE.latestFirst`); false for the same event, so a redelivery changes nothing.
 */
export function isLater(a: string, b: string, quote: Quote): string {
  const terms = CURRENT_STATE.latestFirst;
  const render = (i: number): string => {
    const term = terms[i];
    if (term === undefined) return 'FALSE';
    const col = quote(term.column);
    const op = term.direction === 'desc' ? '>' : '<';
    const strictly = `${a}.${col} ${op} ${b}.${col}`;
    if (i === terms.length - 1) return strictly;
    return `(${strictly} OR (${a}.${col} = ${b}.${col} AND ${render(i + 1)}))`;
  };
  return render(0);
}
