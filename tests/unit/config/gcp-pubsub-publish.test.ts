import { DEFAULTS, Duration, parseConfig } from '@changefeed/shared/config';
import { issuesOf } from '../../support/config-issues';

const SOURCE = `sources:
  - name: carts
    mode: stream
    request: { url: http://localhost:8787/carts }
    idField: id
    table: carts
`;

describe('gcp.pubsub.publish', () => {
  it("defaults to the publisher's own batching and flow control", () => {
    const config = parseConfig(SOURCE, 'minimal.yaml');

    expect(config.gcp.pubsub.publish).toEqual({
      batchMaxMessages: DEFAULTS.gcp.pubsub.publish.batchMaxMessages,
      batchMaxBytes: DEFAULTS.gcp.pubsub.publish.batchMaxBytes,
      batchMaxDelay: DEFAULTS.gcp.pubsub.publish.batchMaxDelay,
      maxOutstandingMessages: DEFAULTS.gcp.pubsub.publish.maxOutstandingMessages,
      maxOutstandingBytes: DEFAULTS.gcp.pubsub.publish.maxOutstandingBytes,
    });
  });

  it('takes every key, with the delay as a duration', () => {
    const config = parseConfig(
      `${SOURCE}gcp:
  pubsub:
    publish:
      batchMaxMessages: 100
      batchMaxBytes: 1048576
      batchMaxDelay: 50ms
      maxOutstandingMessages: 2000
      maxOutstandingBytes: 134217728
`,
      'tuned.yaml',
    );

    expect(config.gcp.pubsub.publish).toEqual({
      batchMaxMessages: 100,
      batchMaxBytes: 1_048_576,
      batchMaxDelay: Duration.from({ millis: 50 }),
      maxOutstandingMessages: 2000,
      maxOutstandingBytes: 134_217_728,
    });
    expect(config.gcp.pubsub.topic).toBe(DEFAULTS.gcp.pubsub.topic);
  });

  it("names the key, its line and the limit for a value beyond Pub/Sub's or not a number of the right kind", () => {
    const issues = issuesOf(`${SOURCE}gcp:
  pubsub:
    publish:
      batchMaxMessages: 5000
      batchMaxBytes: 10485760
      batchMaxDelay: soon
      maxOutstandingMessages: 0
      maxOutstandingBytes: 1.5
      maxDelay: 10ms
`);

    expect(issues).toEqual([
      expect.stringMatching(/^10:gcp\.pubsub\.publish\.batchMaxMessages: expected at most 1000/),
      expect.stringMatching(/^11:gcp\.pubsub\.publish\.batchMaxBytes: expected at most 9437184 \(9 MiB\)/),
      expect.stringMatching(/^12:gcp\.pubsub\.publish\.batchMaxDelay: expected a duration/),
      expect.stringMatching(/^13:gcp\.pubsub\.publish\.maxOutstandingMessages: /),
      expect.stringMatching(/^14:gcp\.pubsub\.publish\.maxOutstandingBytes: /),
      expect.stringMatching(/^10:gcp\.pubsub\.publish: unknown key "maxDelay"/),
    ]);
  });
});
