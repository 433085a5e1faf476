import { errorMessage } from '@changefeed/shared/errors';
import type { Logger } from '@changefeed/shared/log';

/** One part of a pipeline to stop or close, by name for the log. */
export type ShutdownStep = readonly [name: string, step: () => Promise<void>];

/**
 * Runs every step in order, each even when an earlier one failed: a store that would not close
 * must not leave the warehouse open. Failures are logged with the step's name, never thrown.
 */
export async function runShutdownSteps(steps: readonly ShutdownStep[], logger: Logger): Promise<void> {
  for (const [name, step] of steps) {
    try {
      await step();
    } catch (e: unknown) {
      logger.error('shutdown step failed', { step: name, error: errorMessage(e) });
    }
  }
}
