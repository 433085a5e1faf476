/**
 * What the config schema's `.meta()` may say besides zod's own keys (`description`, `title`,
 * `examples`, `id`). The README generator reads them; the JSON Schema carries them as extra
 * keywords, which editors ignore.
 */
declare module 'zod' {
  interface GlobalMeta {
    /** A count of bytes: the README shows it as `16 MiB` rather than `16777216`. */
    unit?: 'bytes';
  }
}

export {};
