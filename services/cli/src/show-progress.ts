import { once } from 'node:events';
import type { CliIo } from './io';

const TTY_PROGRESS_MS = 1000;
const PLAIN_PROGRESS_MS = 10_000;

/**
 * Shows `render()` until `signal` aborts: redrawn in place every second on a terminal, one line
 * every 10 s otherwise (a log file must not fill with redraws). `intervalMs` overrides both.
 */
export async function showProgressUntilAborted(
  render: () => string,
  io: Pick<CliIo, 'stdout'>,
  signal: AbortSignal,
  intervalMs?: number,
): Promise<void> {
  const tty = io.stdout.isTTY === true;
  const interval = intervalMs ?? (tty ? TTY_PROGRESS_MS : PLAIN_PROGRESS_MS);
  // The first sample is the rate's baseline; it is not shown.
  render();
  const timer = setInterval(() => {
    const text = render();
    io.stdout.write(tty ? `\r\x1b[2K${text}` : `${text}\n`);
  }, interval);
  try {
    if (!signal.aborted) await once(signal, 'abort');
  } finally {
    clearInterval(timer);
    if (tty) io.stdout.write('\n');
    io.stdout.write('stopping: finishing in-flight work...\n');
  }
}
