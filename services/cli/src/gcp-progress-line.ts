import type { GcpProgressSample } from '@changefeed/pipeline';

/**
 * Turns successive samples of the gcp pipeline into
 * `events/s 412 · published 1200 · loaded 1190 · rejected 0 · nacked 2 · in flight 10 · cycles 7`.
 * Unlike local mode there is no queue depth or lag: Pub/Sub tells a subscriber neither (Cloud
 * Monitoring does, as num_undelivered_messages and oldest_unacked_message_age). The rate is of
 * messages stored over the last interval, so it falls to 0 when the pipeline goes quiet.
 */
export class GcpProgressLine {
  private previous: GcpProgressSample | undefined;

  constructor(private readonly exactlyOnce: boolean) {}

  render(sample: GcpProgressSample): string {
    const prev = this.previous;
    this.previous = sample;
    const loaded = sample.written + sample.rejected;
    const seconds = prev === undefined ? 0 : (sample.at - prev.at) / 1000;
    const rate = prev === undefined || seconds <= 0 ? 0 : (loaded - prev.written - prev.rejected) / seconds;
    return [
      `events/s ${Math.round(rate)}`,
      `published ${sample.published}`,
      `loaded ${loaded}`,
      `rejected ${sample.rejected}`,
      `nacked ${sample.nacked}`,
      ...(this.exactlyOnce ? [`ack failures ${sample.ackFailed}`] : []),
      `in flight ${sample.inFlight}`,
      `cycles ${sample.cycles}`,
    ].join(' · ');
  }
}
