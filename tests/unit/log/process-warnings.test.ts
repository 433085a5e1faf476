import { EventEmitter } from 'node:events';
import { logProcessWarnings } from '@changefeed/shared/log';
import { captureLog } from '../../support/source-fakes';

describe('logProcessWarnings', () => {
  it('turns a process warning into one WARNING log line instead of the printer listening before it', () => {
    const emitter = new EventEmitter();
    const printed: string[] = [];
    emitter.on('warning', (w: Error) => printed.push(`(node) ${w.name}: ${w.message}`));
    const log = captureLog('poller');

    logProcessWarnings(emitter, log.logger);
    const warning = Object.assign(new Error('received unexpected error = All promises were rejected'), {
      name: 'MetadataLookupWarning',
      code: 'UNKNOWN',
    });
    emitter.emit('warning', warning);

    expect(printed).toEqual([]);
    expect(log.lines).toEqual([
      expect.objectContaining({
        severity: 'WARNING',
        component: 'poller',
        message: 'received unexpected error = All promises were rejected',
        warning: 'MetadataLookupWarning',
        code: 'UNKNOWN',
      }),
    ]);
  });

  it('stops logging once the returned function is called', () => {
    const emitter = new EventEmitter();
    const log = captureLog();
    const stop = logProcessWarnings(emitter, log.logger);

    stop();
    emitter.emit('warning', new Error('late'));

    expect(emitter.listenerCount('warning')).toBe(0);
    expect(log.lines).toEqual([]);
  });
});
