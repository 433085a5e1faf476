import { readFile } from 'node:fs/promises';
import path from 'node:path';
import Ajv from 'ajv';
import { parse as parseYaml } from 'yaml';
import {
  CONFIG_SCHEMA_FILE,
  configDocBlocks,
  configJsonSchema,
  configJsonSchemaText,
  staleGeneratedBlocks,
  type JsonSchema,
} from '@changefeed/shared/config';
import { cliIn } from '../../e2e/e2e-support';

const ROOT = path.join(__dirname, '..', '..', '..');
const EXAMPLES = ['changefeed.local.yaml', 'changefeed.gcp-emulators.yaml'];

/** Every object key below `node`, with its dotted path; a `oneOf` variant's keys are under `<key>.<type>.`. */
function keysOf(node: JsonSchema, at = ''): { path: string; schema: JsonSchema }[] {
  const own = Object.entries(node.properties ?? {}).flatMap(([name, schema]) => [
    { path: `${at}${name}`, schema },
    ...keysOf(schema, `${at}${name}.`),
  ]);
  const variants = (node.oneOf ?? []).flatMap((variant) => [
    { path: `${at}(${String(variant.properties?.['type']?.const)})`, schema: variant },
    ...keysOf(variant, `${at}(${String(variant.properties?.['type']?.const)}).`),
  ]);
  const items = node.items === undefined ? [] : keysOf(node.items, `${at.replace(/\.$/, '')}[].`);
  return [...own, ...variants, ...items];
}

describe('the configuration docs', () => {
  it('the README tables are what npm run docs makes of the schema', async () => {
    const readme = await readFile(path.join(ROOT, 'README.md'), 'utf8');

    // A name here is a README table out of date: run `npm run docs`.
    expect(staleGeneratedBlocks(readme, configDocBlocks())).toEqual([]);
  });

  it('the committed JSON Schema is what npm run docs makes of the schema', async () => {
    const committed = await readFile(path.join(ROOT, 'examples', CONFIG_SCHEMA_FILE), 'utf8');

    expect(committed).toBe(configJsonSchemaText());
  });

  it('every key and every pagination and auth variant has a description', () => {
    const keys = keysOf(configJsonSchema());

    expect(keys.length).toBeGreaterThan(80);
    expect(keys.map((k) => k.path)).toContain('sources[].request.pagination.(cursor).nextCursorPath');
    expect(keys.filter((k) => k.schema.description === undefined).map((k) => k.path)).toEqual([]);
  });

  it('the examples name the schema, and an editor checking with it accepts them', async () => {
    const validate = new Ajv({ strict: false, allErrors: true }).compile(configJsonSchema());
    for (const name of EXAMPLES) {
      const text = await readFile(path.join(ROOT, 'examples', name), 'utf8');

      expect(text.split('\n')[0]).toBe(`# yaml-language-server: $schema=./${CONFIG_SCHEMA_FILE}`);
      expect(validate(parseYaml(text))).toBe(true);
    }
  });

  it('an editor checking with the schema flags what the loader refuses: an unknown key, a bad duration', () => {
    const validate = new Ajv({ strict: false, allErrors: true }).compile(configJsonSchema());
    const config = {
      sources: [{ name: 'carts', mode: 'stream', request: { url: 'http://x/carts' }, idField: 'id', table: 'carts' }],
      poller: { leaseTtl: '1 week', leaseTTL: '1m' },
    };

    expect(validate(config)).toBe(false);
    expect(validate.errors?.map((e) => e.instancePath)).toEqual(
      expect.arrayContaining(['/poller', '/poller/leaseTtl']),
    );
    expect(validate({ ...config, poller: { leaseTtl: '90s' } })).toBe(true);
  });

  it('changefeed config schema prints the committed schema', async () => {
    const r = await cliIn(ROOT, ['config', 'schema']);

    expect(r.code).toBe(0);
    expect(r.stdout).toBe(configJsonSchemaText());
    expect(JSON.parse(r.stdout)).toMatchObject({ title: 'changefeed configuration' });
  });
});
