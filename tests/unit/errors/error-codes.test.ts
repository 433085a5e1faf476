import { readFileSync } from 'node:fs';
import path from 'node:path';
import {
  ERROR_CODES,
  PUBSUB_FAILURES,
  errorCodeTableIn,
  renderErrorCodeTable,
  withErrorCodeTable,
} from '@changefeed/shared/errors';
import { PubSubFailure } from '../../../shared/adapters/gcp/pubsub-errors';
import { codeMentionsIn, codeMentionsOf, sourceFiles } from './code-scan';

const ROOT = path.resolve(__dirname, '../../..');
const CATALOGUE_FILE = path.join(ROOT, 'shared/errors/codes.ts');

/** What shared/ and services/ raise: codes written out, plus every `<prefix>.<failure>` a Pub/Sub helper builds. */
function codesInSource(): { readonly codes: ReadonlySet<string>; readonly where: Map<string, string[]> } {
  const mentions = codeMentionsOf(
    sourceFiles([path.join(ROOT, 'shared'), path.join(ROOT, 'services')], (file) => file === CATALOGUE_FILE),
  );
  const codes = new Set(mentions.codes);
  for (const prefix of mentions.pubSubPrefixes) {
    for (const failure of Object.values(PubSubFailure)) codes.add(`${prefix}.${failure}`);
  }
  return { codes, where: mentions.where };
}

describe('the error-code catalogue', () => {
  const source = codesInSource();
  const catalogued = new Set(Object.keys(ERROR_CODES));

  it('the scan sees the codes of every area (so an empty scan cannot pass)', () => {
    for (const code of [
      'VALIDATION',
      'SOURCE.TIMEOUT',
      'WAREHOUSE.INVALID_ROW',
      'PUBLISH.NOT_FOUND',
      'LOADER.CLOSING',
    ]) {
      expect(source.codes).toContain(code);
    }
  });

  it('describes every code that shared/ and services/ raise', () => {
    const missing = [...source.codes]
      .filter((code) => !catalogued.has(code))
      .map((code) => `${code} (in ${(source.where.get(code) ?? ['a Pub/Sub helper']).join(', ')})`);
    expect(missing).toEqual([]);
  });

  it('lists no code that nothing raises any more', () => {
    expect([...catalogued].filter((code) => !source.codes.has(code))).toEqual([]);
  });

  it('has the same Pub/Sub failures as classifyPubSubError', () => {
    expect(Object.keys(PUBSUB_FAILURES).sort()).toEqual(Object.values(PubSubFailure).sort());
  });

  it('says for every code what it means and what to do', () => {
    const vague = Object.entries(ERROR_CODES).filter(
      ([, info]) => info.meaning.trim() === '' || info.action.trim() === '',
    );
    expect(vague.map(([code]) => code)).toEqual([]);
  });
});

describe('codeMentionsIn', () => {
  it('finds quoted dotted codes, plain codes an error is made with, and Pub/Sub helper prefixes', () => {
    const found = codeMentionsIn(
      [
        `throw new AppError('BUS.NEW_ONE', 'x');`,
        `const C = "POLLER.OTHER";`,
        `super('PLAIN', message);`,
        `return toPubSubError('DEAD_LETTER', what, e);`,
        'return new AppError(`SETUP.${failure}`, what);',
        `const notACode = 'Hello.World'; const url = 'http://x.y';`,
      ].join('\n'),
    );
    expect([...found.codes].sort()).toEqual(['BUS.NEW_ONE', 'PLAIN', 'POLLER.OTHER']);
    expect([...found.pubSubPrefixes].sort()).toEqual(['DEAD_LETTER', 'SETUP']);
  });
});

describe('the README error-code table', () => {
  it('is the rendering of the catalogue (rewrite it with `npm run docs`)', () => {
    const readme = readFileSync(path.join(ROOT, 'README.md'), 'utf8');
    expect(errorCodeTableIn(readme)).toBe(renderErrorCodeTable());
  });

  it('renders one aligned row per code, pipes escaped, as prettier formats a table', () => {
    const table = renderErrorCodeTable({
      'A.B': { retry: 'yes', meaning: 'one | two', action: 'wait' },
      'LONGER.CODE': { retry: 'depends', meaning: 'm', action: 'fix it' },
    });
    expect(table.split('\n')).toEqual([
      '| code          | retried | meaning    | what to do |',
      '| ------------- | ------- | ---------- | ---------- |',
      '| `A.B`         | yes     | one \\| two | wait       |',
      '| `LONGER.CODE` | depends | m          | fix it     |',
    ]);
  });

  it('rewriting replaces only what is between the markers', () => {
    const readme = 'before\n<!-- error-codes:begin -->\nold table\n<!-- error-codes:end -->\nafter\n';
    expect(withErrorCodeTable(readme, '| new |')).toBe(
      'before\n<!-- error-codes:begin -->\n\n| new |\n\n<!-- error-codes:end -->\nafter\n',
    );
  });

  it('rewriting a README without the markers fails instead of losing the table', () => {
    expect(() => withErrorCodeTable('no markers here')).toThrow(/error-codes:begin/);
  });
});
