import { ValidationError } from '@changefeed/shared/errors';
import {
  blockMarkers,
  markdownTable,
  replaceGeneratedBlocks,
  staleGeneratedBlocks,
  type GeneratedBlock,
} from '@changefeed/shared/config';

const block = (content: string): GeneratedBlock => ({ name: 'config:demo', source: 'demo.ts', content });
const { begin, end } = blockMarkers('config:demo', 'demo.ts');

describe('generated blocks', () => {
  it('replaces what is between the markers and leaves the prose around them', () => {
    const text = `# Title\n\nBefore.\n\n${begin}\n\nold table\n\n${end}\n\nAfter.\n`;

    const out = replaceGeneratedBlocks(text, [block('new table')]);

    expect(out).toBe(`# Title\n\nBefore.\n\n${begin}\n\nnew table\n\n${end}\n\nAfter.\n`);
    expect(replaceGeneratedBlocks(out, [block('new table')])).toBe(out);
    expect(staleGeneratedBlocks(text, [block('new table')])).toEqual(['config:demo']);
    expect(staleGeneratedBlocks(out, [block('new table')])).toEqual([]);
  });

  it('refuses a document without the markers instead of guessing where the block goes', () => {
    expect(() => replaceGeneratedBlocks('# Title\n', [block('x')])).toThrow(ValidationError);
    expect(() => replaceGeneratedBlocks(`${begin}\n`, [block('x')])).toThrow(/no generated block "config:demo"/);
  });

  it('lays a table out as prettier does, with pipes in cells escaped', () => {
    expect(
      markdownTable(
        ['key', 'type'],
        [
          ['`mode`', '`a` | `b`'],
          ['`x`', 'integer'],
        ],
      ),
    ).toBe(
      [
        '| key    | type       |',
        '| ------ | ---------- |',
        '| `mode` | `a` \\| `b` |',
        '| `x`    | integer    |',
      ].join('\n'),
    );
  });
});
