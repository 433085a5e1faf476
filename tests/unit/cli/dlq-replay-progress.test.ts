import { Writable } from 'node:stream';
import { AppError } from '@changefeed/shared/errors';
import { changeToMessage } from '@changefeed/shared/events';
import type { DeadLetter } from '@changefeed/shared/ports';
import type { LetterOutcome } from '../../../services/cli/src/dlq/replay-letters';
import { startReplayProgress } from '../../../services/cli/src/dlq/replay-progress';
import { MemoryDeadLetterQueue } from '../../support/dead-letter-fakes';
import { cartChange } from '../../support/loader-fakes';

/** An output stream that keeps what was written; a terminal when `tty`. */
function output(tty: boolean): { stream: Writable & { isTTY?: boolean; columns?: number }; text(): string } {
  const chunks: string[] = [];
  const stream: Writable & { isTTY?: boolean; columns?: number } = new Writable({
    write(chunk: Buffer | string, _enc, cb) {
      chunks.push(chunk.toString());
      cb();
    },
  });
  if (tty) {
    stream.isTTY = true;
    stream.columns = 160;
  }
  return { stream, text: () => chunks.join('') };
}

function outcomes(): LetterOutcome[] {
  const queue = new MemoryDeadLetterQueue();
  const letters: DeadLetter[] = [1, 2, 3].map((n) => queue.add(changeToMessage(cartChange(n)), 5, new Date()));
  return [
    { letter: letters[0] as DeadLetter, replayed: true, messageId: 'a', removed: true },
    { letter: letters[1] as DeadLetter, replayed: true, messageId: 'b', removed: true },
    { letter: letters[2] as DeadLetter, replayed: false, error: new AppError('PUBLISH.REJECTED', 'no') },
  ];
}

describe('replay progress', () => {
  it('off a terminal, writes plain lines: at the start and at the end (and every interval between)', () => {
    const out = output(false);

    const progress = startReplayProgress(out.stream, 3, 60_000);
    progress.advance(outcomes());
    progress.stop();

    const lines = out.text().trim().split('\n');
    expect(lines[0]).toMatch(/^replay: 0\/3 · replayed 0 · failed 0/);
    expect(lines.at(-1)).toMatch(/^replay: 3\/3 · replayed 2 · failed 1/);
    expect(out.text()).not.toContain('\u001b[');
  });

  it('on a terminal, draws a bar in place', () => {
    const out = output(true);

    const progress = startReplayProgress(out.stream, 3);
    progress.advance(outcomes());
    progress.stop();

    expect(out.text()).toContain('replaying [');
    expect(out.text()).toContain('3/3 · replayed 2 · failed 1');
    expect(out.text()).toContain('\u001b[');
  });
});
