import { ConfigError, parseConfig } from '@changefeed/shared/config';

/** The issues a config text is refused with, as `line:path: message`; fails when it is accepted. */
export function issuesOf(text: string): string[] {
  try {
    parseConfig(text, 'changefeed.yaml');
  } catch (e: unknown) {
    if (e instanceof ConfigError) return e.issues.map((i) => `${i.line}:${i.path}: ${i.message}`);
    throw e;
  }
  throw new Error('expected the config to be rejected');
}
