import { pubSubResourceName } from '@changefeed/shared/adapters/gcp';
import { ValidationError } from '@changefeed/shared/errors';

describe('pubSubResourceName', () => {
  it('puts an id in the project, and keeps a full name of the right collection as it is', () => {
    expect(pubSubResourceName('subscriptions', 'changefeed-dead-letters-pull', 'p-1', '--subscription')).toBe(
      'projects/p-1/subscriptions/changefeed-dead-letters-pull',
    );
    expect(pubSubResourceName('topics', 'projects/other-project/topics/events', 'p-1', '--topic')).toBe(
      'projects/other-project/topics/events',
    );
    expect(pubSubResourceName('topics', 'a.b~c+d%e_f-g', 'p-1', '--topic')).toBe('projects/p-1/topics/a.b~c+d%e_f-g');
  });

  it.each([
    ['too short', 'ab', 'expected 3 to 255'],
    ['a leading digit', '9lives', 'starting with a letter'],
    ['the reserved prefix', 'google-owned', 'not "goog"'],
    ['a space', 'has space', 'expected 3 to 255'],
    ['a topic for a subscription', 'projects/p-1/topics/events', 'expected projects/<project>/subscriptions/<id>'],
    ['a full name without an id', 'projects/p-1/subscriptions/', 'expected 3 to 255'],
    ['256 characters', `x${'y'.repeat(255)}`, 'expected 3 to 255'],
  ])('refuses a name with %s, naming the setting it came from', (_what, name, problem) => {
    const attempt = () =>
      pubSubResourceName('subscriptions', name, 'p-1', 'changefeed.yaml: gcp.pubsub.deadLetterSubscription');

    expect(attempt).toThrow(ValidationError);
    expect(attempt).toThrow(`changefeed.yaml: gcp.pubsub.deadLetterSubscription: invalid Pub/Sub subscription name`);
    expect(attempt).toThrow(problem);
  });
});
