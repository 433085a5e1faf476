import { FAILPOINTS, failpointHook, parseFailpoints } from '@changefeed/shared/config';
import { ValidationError } from '@changefeed/shared/errors';

describe('failpoints (test hooks)', () => {
  it('without CHANGEFEED_FAILPOINT there is no hook anywhere', () => {
    const kill = jest.fn();
    for (const value of [undefined, '', '  ']) {
      expect(failpointHook(parseFailpoints(value), FAILPOINTS.pollerAfterPublish, kill)).toBeUndefined();
    }
    expect(kill).not.toHaveBeenCalled();
  });

  it("kill runs the caller's kill; throw fails the operation naming the failpoint", () => {
    const kill = jest.fn();
    const killHook = failpointHook(parseFailpoints('poller.after-publish:kill'), FAILPOINTS.pollerAfterPublish, kill);
    killHook?.();
    expect(kill).toHaveBeenCalledTimes(1);

    const throwHook = failpointHook(
      parseFailpoints(' poller.after-publish:throw '),
      FAILPOINTS.pollerAfterPublish,
      kill,
    );
    expect(throwHook).toBeDefined();
    expect(() => throwHook?.()).toThrow('failpoint poller.after-publish');
    expect(kill).toHaveBeenCalledTimes(1);
  });

  it('an unknown name or action is refused with the variable and the known names', () => {
    expect(() => parseFailpoints('poller.before-publish:kill')).toThrow(ValidationError);
    expect(() => parseFailpoints('poller.before-publish:kill')).toThrow(
      'CHANGEFEED_FAILPOINT: unknown failpoint "poller.before-publish" (known: poller.after-publish, dlq.after-republish, loader.after-append)',
    );
    expect(() => parseFailpoints('poller.after-publish:explode')).toThrow(
      'CHANGEFEED_FAILPOINT: action for "poller.after-publish" must be kill or throw, got "explode"',
    );
  });
});
