import type { IncomingMessage, ServerResponse } from 'node:http';
import { SqliteLocalBus } from '@changefeed/shared/adapters/local';
import { parsePushEnvelope } from '@changefeed/shared/events';
import { listen, type ListeningServer } from '@changefeed/shared/http';
import { eventPublisherContract, type ReadBackMessage } from '../../contract/event-publisher.contract';
import { captureLog } from '../../support/source-fakes';
import { until } from '../../support/loader-fakes';

/** A push endpoint that acks everything and keeps what it received, in arrival order. */
class Receiver {
  readonly received: ReadBackMessage[] = [];
  private server: ListeningServer | undefined;

  async start(): Promise<string> {
    this.server = await listen((req, res) => void this.handle(req, res), { port: 0 });
    return `${this.server.url}/pubsub/push`;
  }

  async stop(): Promise<void> {
    await this.server?.close({ force: true });
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const push = parsePushEnvelope(JSON.parse(Buffer.concat(chunks).toString('utf8')));
    this.received.push({
      messageId: push.messageId,
      orderingKey: push.orderingKey,
      data: push.data,
      attributes: push.attributes,
    });
    res.writeHead(204).end();
  }
}

const receivers = new Map<SqliteLocalBus, Receiver>();

afterEach(async () => {
  await Promise.all([...receivers.values()].map((r) => r.stop()));
  receivers.clear();
});

eventPublisherContract(
  'SqliteLocalBus',
  async () => {
    const receiver = new Receiver();
    const bus = SqliteLocalBus.open({
      file: ':memory:',
      pushEndpoint: await receiver.start(),
      subscription: 'projects/local/subscriptions/contract',
      maxDeliveryAttempts: 5,
      minBackoffMs: 10,
      maxBackoffMs: 100,
      concurrency: 8,
      ackDeadlineMs: 5_000,
      idlePollMs: 10,
      logger: captureLog('local-bus').logger,
    });
    bus.start();
    receivers.set(bus, receiver);
    return bus;
  },
  async (bus, count) => {
    const receiver = receivers.get(bus);
    if (receiver === undefined) throw new Error('test setup: no receiver for this bus');
    await until(() => receiver.received.length >= count, `${count} pushed messages`);
    return receiver.received.slice(0, count);
  },
);
