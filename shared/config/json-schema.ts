import { z } from 'zod';
import { DURATION_PATTERN, durationInputSchema } from './duration';
import { configSchema } from './schema';

/**
 * The part of JSON Schema (draft-07) the config schema renders to, as far as the README generator
 * reads it. Editors read the whole document; this type names only what code here looks at.
 * https://json-schema.org/draft-07/json-schema-validation
 */
export interface JsonSchema {
  readonly $ref?: string;
  readonly type?: string | readonly string[];
  readonly format?: string;
  readonly enum?: readonly unknown[];
  readonly const?: unknown;
  readonly default?: unknown;
  readonly description?: string;
  readonly title?: string;
  readonly properties?: Readonly<Record<string, JsonSchema>>;
  readonly required?: readonly string[];
  readonly additionalProperties?: boolean | JsonSchema;
  readonly items?: JsonSchema;
  readonly allOf?: readonly JsonSchema[];
  readonly anyOf?: readonly JsonSchema[];
  readonly oneOf?: readonly JsonSchema[];
  readonly definitions?: Readonly<Record<string, JsonSchema>>;
  /** changefeed's own keyword (meta.ts): the value is a count of bytes. */
  readonly unit?: 'bytes';
}

/** Where editors find the schema: the examples' `# yaml-language-server: $schema=` line names this file. */
export const CONFIG_SCHEMA_FILE = 'changefeed.schema.json';

/**
 * The config file's JSON Schema, for editors (completion, hover text, checks as you type), made
 * from the zod schema so it cannot drift from what `parseConfig` accepts. It describes the input
 * (what a file may say: defaults are optional, durations are strings or numbers), not the parsed
 * value. Draft-07, the newest draft every YAML and JSON editor reads. Refinements that look at
 * several keys (duplicate source names, credential headers) are zod's alone: a JSON Schema cannot
 * say them, and `changefeed config check` still does.
 */
export function configJsonSchema(): JsonSchema {
  return z.toJSONSchema(configSchema, {
    target: 'draft-07',
    io: 'input',
    // `body` is any JSON; nothing else is unrepresentable, and a new key that is fails the docs test.
    unrepresentable: 'any',
    override: (ctx) => {
      if (ctx.zodSchema !== durationInputSchema) return;
      // zod renders the input as `number | string`; editors can check the string's form too.
      delete ctx.jsonSchema.type;
      ctx.jsonSchema.anyOf = [
        { type: 'number', minimum: 0, description: 'milliseconds' },
        { type: 'string', pattern: DURATION_PATTERN.source },
      ];
    },
  }) as JsonSchema;
}

/** The committed schema file's text: stable key order as zod emits it, two-space indent, a final newline. */
export function configJsonSchemaText(): string {
  return `${JSON.stringify(configJsonSchema(), null, 2)}\n`;
}
