import type { EventEmitter } from 'node:events';
import type { Logger } from './index';

/**
 * Makes every Node process warning (`process.emitWarning`: deprecations, and libraries' own, such
 * as gcp-metadata's `MetadataLookupWarning`) one JSON line through `logger`, at warn, instead of
 * the plain text Node prints to stderr: a service's output stays JSON lines a log router parses.
 *
 * Node prints warnings with a `'warning'` listener it adds at start-up (absent with
 * `--no-warnings`); the listeners present when this is called are taken to be that printer and
 * removed, so call it first thing in main. Returns a function that removes the logging listener.
 */
export function logProcessWarnings(emitter: EventEmitter, logger: Logger): () => void {
  for (const listener of emitter.listeners('warning')) {
    emitter.removeListener('warning', listener as (...args: unknown[]) => void);
  }
  const onWarning = (warning: Error): void => {
    const code = (warning as { code?: unknown }).code;
    logger.warn(warning.message, { warning: warning.name, ...(typeof code === 'string' ? { code } : {}) });
  };
  emitter.on('warning', onWarning);
  return () => {
    emitter.removeListener('warning', onWarning);
  };
}
