import type { ProgressSample } from '@changefeed/pipeline';

export type { ProgressSample };

/**
 * Turns successive samples into `events/s 412 · queue 18 · lag 0.3s · dead-lettered 0 · cycles 7`.
 * The rate is over the last sample interval, so it falls to 0 when the pipeline goes quiet.
 */
export class ProgressLine {
  private previous: ProgressSample | undefined;

  render(sample: ProgressSample): string {
    const prev = this.previous;
    this.previous = sample;
    const seconds = prev === undefined ? 0 : (sample.at - prev.at) / 1000;
    const rate = prev === undefined || seconds <= 0 ? 0 : (sample.delivered - prev.delivered) / seconds;
    return [
      `events/s ${Math.round(rate)}`,
      `delivered ${sample.delivered}`,
      `queue ${sample.pending}`,
      `lag ${formatSeconds(sample.lagMs)}`,
      `dead-lettered ${sample.deadLettered}`,
      `cycles ${sample.cycles}`,
    ].join(' · ');
  }
}

function formatSeconds(ms: number): string {
  return ms < 10_000 ? `${(ms / 1000).toFixed(1)}s` : `${Math.round(ms / 1000)}s`;
}
