import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { SqliteLocalBus, SqliteLocalBusClient } from '@changefeed/shared/adapters/local';
import { listen, type ListeningServer } from '@changefeed/shared/http';
import {
  DEAD_LETTER_CONTRACT_ATTEMPTS,
  deadLetterQueueContract,
  type DeadLetterFixture,
} from '../../contract/dead-letter-queue.contract';
import { captureLog } from '../../support/source-fakes';

/**
 * The client `changefeed dlq` opens on a bus file, next to the SqliteLocalBus that delivers from
 * it: the bus dead-letters messages a real push endpoint refuses, the client lists and replays them.
 */
async function localFixture(): Promise<DeadLetterFixture> {
  const dir = mkdtempSync(path.join(tmpdir(), 'local-dlq-'));
  const file = path.join(dir, 'bus.sqlite');
  const refusing: ListeningServer = await listen((_req, res) => res.writeHead(500).end('no'), { port: 0 });
  const bus = SqliteLocalBus.open({
    file,
    pushEndpoint: `${refusing.url}/pubsub/push`,
    subscription: 'projects/local/subscriptions/contract',
    maxDeliveryAttempts: DEAD_LETTER_CONTRACT_ATTEMPTS,
    minBackoffMs: 1,
    maxBackoffMs: 5,
    concurrency: 4,
    ackDeadlineMs: 5_000,
    idlePollMs: 10,
    logger: captureLog('bus').logger,
  });
  bus.start();
  const queue = SqliteLocalBusClient.open(file, { logger: captureLog('dlq').logger });
  return {
    queue,
    async deadLetter(messages) {
      // One at a time: the order of dead-lettering is then the order given.
      for (const m of messages) {
        await bus.publish([m]);
        await bus.waitUntilIdle();
      }
    },
    async close() {
      await queue.close();
      await bus.close();
      await refusing.close({ force: true });
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

deadLetterQueueContract('SqliteLocalBusClient', localFixture);

describe('SqliteLocalBusClient', () => {
  it('refuses to open a bus file that does not exist, rather than create an empty one', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'local-dlq-'));
    try {
      const file = path.join(dir, 'nothing-here.sqlite');
      let error: unknown;
      try {
        SqliteLocalBusClient.open(file);
      } catch (e: unknown) {
        error = e;
      }

      expect(error).toMatchObject({ code: 'BUS.UNAVAILABLE' });
      expect(existsSync(file)).toBe(false);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
