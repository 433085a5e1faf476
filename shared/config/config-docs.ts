import type { GeneratedBlock } from './generated-blocks';
import { configJsonSchema, type JsonSchema } from './json-schema';
import { markdownTable } from './markdown-table';

const SOURCE = 'shared/config/schema.ts';
const HEADER = ['key', 'type', 'default', 'description'];
const DURATION_REF = '#/definitions/Duration';

/**
 * The README's configuration tables, generated from the config's JSON Schema (itself generated
 * from the zod schema), so each key's description, default and unit are written once, in
 * schema.ts. Each table is one `config:<name>` block of README.md; `npm run docs` rewrites them
 * and a unit test fails while one is out of date.
 */
export function configDocBlocks(schema: JsonSchema = configJsonSchema()): GeneratedBlock[] {
  const source = child(child(schema, 'sources'), 'items');
  const request = child(source, 'request');
  const loader = child(schema, 'loader');
  const block = (name: string, content: string): GeneratedBlock => ({
    name: `config:${name}`,
    source: SOURCE,
    content,
  });
  return [
    block('sources', keyTable(keyRows(source, '', { separate: ['request', 'auth', 'current'] }))),
    block('current', keyTable(keyRows(child(source, 'current'), ''))),
    block('request', keyTable(keyRows(request, '', { separate: ['pagination'] }))),
    block('pagination', variantTable(child(request, 'pagination'))),
    block('auth', variantTable(child(source, 'auth'))),
    block(
      'services',
      keyTable([
        ...keyRows(schema, '', { only: ['backend'] }),
        ...keyRows(child(schema, 'poller'), 'poller.'),
        ...keyRows(loader, 'loader.', { skip: ['auth'] }),
        ...keyRows(child(schema, 'bus'), 'bus.'),
      ]),
    ),
    block(
      'gcp',
      keyTable([...keyRows(child(schema, 'gcp'), 'gcp.'), ...keyRows(loader, 'loader.', { only: ['auth'] })]),
    ),
  ];
}

interface RowOptions {
  /** Object keys that get one row pointing to their own table instead of a row per key inside. */
  readonly separate?: readonly string[];
  readonly skip?: readonly string[];
  readonly only?: readonly string[];
}

type Row = readonly [key: string, type: string, defaultValue: string, description: string];

/** A row per key of an object schema; keys of nested objects follow as `parent.key` rows. */
function keyRows(node: JsonSchema, prefix: string, options: RowOptions = {}): Row[] {
  const required = new Set(node.required ?? []);
  return Object.entries(node.properties ?? {}).flatMap(([name, property]): Row[] => {
    if (options.skip?.includes(name) === true) return [];
    if (options.only !== undefined && !options.only.includes(name)) return [];
    const key = `${prefix}${name}`;
    const row: Row = [code(key), typeOf(property), defaultOf(property, required.has(name)), property.description ?? ''];
    const nested = property.properties !== undefined && options.separate?.includes(name) !== true;
    if (!nested) return [row];
    // An object whose keys have rows of their own needs a row only to say what it is for.
    return [...(property.description === undefined ? [] : [row]), ...keyRows(property, `${key}.`)];
  });
}

function keyTable(rows: readonly Row[]): string {
  return markdownTable(HEADER, rows);
}

/**
 * A `oneOf` of objects told apart by `type` (pagination, auth): a row per key of each variant,
 * after a row for the variant itself when it has a description or no other keys.
 */
function variantTable(node: JsonSchema): string {
  const rows = (node.oneOf ?? node.anyOf ?? []).flatMap((variant): string[][] => {
    const type = code(text(variant.properties?.['type']?.const ?? '?'));
    const keys = keyRows({ ...variant, properties: withoutType(variant.properties) }, '');
    const own =
      variant.description !== undefined || keys.length === 0 ? [[type, '', '', '', variant.description ?? '']] : [];
    return [
      ...own,
      ...keys.map(([key, valueType, defaultValue, description]) => [type, key, valueType, defaultValue, description]),
    ];
  });
  const header = ['`type`', 'key', 'type', 'default', 'description'];
  // The variants' schemas may describe none of their keys yet: an empty column would only be noise.
  const used = header.map((_, i) => i < 4 || rows.some((row) => (row[i] ?? '') !== ''));
  return markdownTable(
    header.filter((_, i) => used[i]),
    rows.map((row) => row.filter((_, i) => used[i])),
  );
}

function withoutType(properties: JsonSchema['properties']): Record<string, JsonSchema> {
  const { type: _type, ...rest } = properties ?? {};
  void _type;
  return rest;
}

function child(node: JsonSchema, key: 'items' | (string & {})): JsonSchema {
  const found = key === 'items' ? node.items : node.properties?.[key];
  if (found === undefined) throw new Error(`config JSON Schema: no "${key}" where the README tables expect one`);
  return found;
}

function isDuration(node: JsonSchema): boolean {
  return node.$ref === DURATION_REF || (node.allOf ?? []).some((s) => s.$ref === DURATION_REF);
}

/** The type as a reader writes it: `duration`, `integer`, `` `a` | `b` ``, `list of string`. */
function typeOf(node: JsonSchema): string {
  if (isDuration(node)) return 'duration';
  if (node.enum !== undefined) return node.enum.map((v) => code(text(v))).join(' | ');
  if (node.const !== undefined) return code(text(node.const));
  if (node.oneOf !== undefined) return 'object';
  if (node.anyOf !== undefined) return node.anyOf.map(typeOf).join(' | ');
  const type = typeof node.type === 'string' ? node.type : node.type?.join(' | ');
  switch (type) {
    case 'integer':
      return node.unit === 'bytes' ? 'bytes' : 'integer';
    case 'string':
      return node.format === 'uri' ? 'URL' : node.format === 'email' ? 'email' : 'string';
    case 'array':
      return node.items === undefined ? 'list' : `list of ${typeOf(node.items)}`;
    case 'object':
      return typeof node.additionalProperties === 'object' && node.properties === undefined
        ? `map of ${typeOf(node.additionalProperties)}`
        : 'object';
    case undefined:
      return 'any JSON';
    default:
      return type;
  }
}

function defaultOf(node: JsonSchema, required: boolean): string {
  if (node.default === undefined) return required ? 'required' : '—';
  return formatValue(node.default, node.unit);
}

function formatValue(value: unknown, unit: JsonSchema['unit']): string {
  if (unit === 'bytes' && typeof value === 'number') return bytes(value);
  if (Array.isArray(value)) return value.map((v) => formatValue(v, undefined)).join(', ');
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value);
    return entries.length === 0 ? '`{}`' : code(`{ ${entries.map(([k, v]) => `${k}: ${text(v)}`).join(', ')} }`);
  }
  return code(text(value));
}

/** A JSON value as YAML would write it inline: strings bare, everything else as JSON. */
function text(value: unknown): string {
  return typeof value === 'string' ? value : JSON.stringify(value);
}

/** `16 MiB`, `64 KiB`: the sizes in the defaults are powers of two, which a byte count hides. */
function bytes(n: number): string {
  for (const [unit, size] of [
    ['GiB', 1024 ** 3],
    ['MiB', 1024 ** 2],
    ['KiB', 1024],
  ] as const) {
    if (n >= size && n % size === 0) return `${n / size} ${unit}`;
  }
  return `${n} bytes`;
}

function code(text: string): string {
  return `\`${text}\``;
}
