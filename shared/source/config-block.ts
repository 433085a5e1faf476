import { z } from 'zod';

/** The config keys of one registered type (a paginator, an auth), besides `type`. */
export type BlockFields = Readonly<Record<string, z.ZodType>>;

/** The config block of one registered type: `{ type: <the type>, ...its fields }`, unknown keys refused. */
export type ConfigBlock<T extends string, F extends BlockFields> = z.ZodObject<
  { type: z.ZodLiteral<T> } & { -readonly [K in keyof F]: F[K] },
  z.core.$strict
>;

/**
 * The schema of one member of a `type`-discriminated config union (`request.pagination`,
 * `auth`), described for the README and the editor schema.
 */
export function configBlock<const T extends string, F extends BlockFields>(
  type: T,
  description: string,
  fields: F,
): ConfigBlock<T, F> {
  return z
    .strictObject({ type: z.literal(type).meta({ description: `Selects this type: ${type}.` }), ...fields })
    .meta({ description });
}

/** The tuple of registered definitions' schemas, as `z.discriminatedUnion` wants it. */
export type SchemasOf<T extends readonly unknown[]> = {
  [K in keyof T]: T[K] extends { readonly schema: infer S } ? S : never;
};

/** `schemasOf(definitions)`, typed as the tuple it is (`map` keeps the order and the length). */
export function schemasOf<const T extends readonly { readonly schema: z.ZodType }[]>(definitions: T): SchemasOf<T> {
  return definitions.map((d) => d.schema) as unknown as SchemasOf<T>;
}
