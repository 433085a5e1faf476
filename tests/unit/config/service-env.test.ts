import { isGcsUrl, parseServiceEnv } from '@changefeed/shared/config';
import { ValidationError } from '@changefeed/shared/errors';

describe('parseServiceEnv', () => {
  it('takes the config location and applies Cloud Run defaults', () => {
    expect(parseServiceEnv({ CHANGEFEED_CONFIG: '/config/changefeed.yaml' })).toEqual({
      CHANGEFEED_CONFIG: '/config/changefeed.yaml',
      PORT: 8080,
      LOG_LEVEL: 'info',
    });
  });

  it('names every bad variable at once', () => {
    let error: unknown;
    try {
      parseServiceEnv({ PORT: 'http', LOG_LEVEL: 'loud' });
    } catch (e: unknown) {
      error = e;
    }
    expect(error).toBeInstanceOf(ValidationError);
    const message = (error as ValidationError).message;
    expect(message).toContain('CHANGEFEED_CONFIG: expected the config file location');
    expect(message).toContain('PORT:');
    expect(message).toContain('LOG_LEVEL:');
  });

  it('recognises gs:// locations', () => {
    expect(isGcsUrl('gs://bucket/changefeed.yaml')).toBe(true);
    expect(isGcsUrl('/etc/changefeed.yaml')).toBe(false);
  });
});
