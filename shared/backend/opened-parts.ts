import { errorMessage } from '../errors';
import type { Logger } from '../log';

/**
 * The parts a backend opened, each once however often it is asked for, closed in the reverse
 * order of opening. A part that fails to open is not kept, so the next ask tries again; a part
 * that fails to close is logged and the rest still close.
 */
export class OpenedParts {
  private readonly opening = new Map<string, Promise<unknown>>();
  private readonly closers: { readonly name: string; readonly close: () => Promise<unknown> }[] = [];
  private closing: Promise<void> | undefined;

  constructor(private readonly logger: Logger) {}

  /** The part called `name`, opened by `open` the first time; `close` is how it is released. */
  once<T>(name: string, open: () => Promise<T> | T, close: (part: T) => Promise<unknown>): Promise<T> {
    if (this.closing !== undefined) return Promise.reject(new Error(`the backend is closed; cannot open ${name}`));
    const known = this.opening.get(name) as Promise<T> | undefined;
    if (known !== undefined) return known;
    const opened = (async () => {
      const part = await open();
      this.closers.push({ name, close: () => close(part) });
      return part;
    })();
    this.opening.set(name, opened);
    opened.catch(() => this.opening.delete(name));
    return opened;
  }

  close(): Promise<void> {
    this.closing ??= (async () => {
      // A part still opening is waited for, so that it is closed too.
      await Promise.allSettled(this.opening.values());
      for (const { name, close } of [...this.closers].reverse()) {
        await close().catch((e: unknown) => {
          this.logger.error('closing a backend part failed', { part: name, error: errorMessage(e) });
        });
      }
    })();
    return this.closing;
  }
}
