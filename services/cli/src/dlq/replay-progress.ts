import { SingleBar } from 'cli-progress';
import { DEFAULTS } from '@changefeed/shared/config';
import type { CliIo } from '../io';
import type { LetterOutcome } from './replay-letters';

/** Shows how far a replay got: a bar on a terminal, a plain line every so often otherwise. */
export interface ReplayProgress {
  advance(outcomes: readonly LetterOutcome[]): void;
  /** Draws the final state and releases the output. */
  stop(): void;
}

/**
 * Starts the progress display for `total` letters on `stdout`. On a terminal, a bar redrawn in
 * place; otherwise (a pipe, a file, CI logs) one line at the start, every `plainIntervalMs` and at
 * the end, so a log shows a long replay is alive without a line per message.
 */
export function startReplayProgress(
  stdout: CliIo['stdout'],
  total: number,
  plainIntervalMs: number = DEFAULTS.dlq.plainProgressInterval.totalOf('millisecond'),
): ReplayProgress {
  const tty = stdout.isTTY === true;
  const bar = new SingleBar({
    stream: stdout,
    format: tty
      ? 'replaying [{bar}] {value}/{total} · replayed {replayed} · failed {failed} · ETA {eta_formatted}'
      : 'replay: {value}/{total} · replayed {replayed} · failed {failed} · {duration_formatted}',
    // The cursor stays visible: a second Ctrl-C exits at once, with no chance to show it again.
    hideCursor: false,
    noTTYOutput: !tty,
    notTTYSchedule: plainIntervalMs,
    gracefulExit: false,
    etaBuffer: 50,
  });
  const counts = { replayed: 0, failed: 0 };
  let done = 0;
  bar.start(total, 0, counts);
  return {
    advance(outcomes) {
      for (const o of outcomes) counts[o.replayed ? 'replayed' : 'failed']++;
      done += outcomes.length;
      bar.update(done, counts);
    },
    stop() {
      bar.stop();
    },
  };
}
