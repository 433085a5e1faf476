import { generateCart, generateProducts } from '@changefeed/demo-api';
import { buildPushEnvelope, changeToMessage, eventId } from '@changefeed/shared/events';
import type { OutboundMessage } from '@changefeed/shared/ports';

/** What the local bus names its subscription (services/pipeline/src/local-pipeline.ts). */
const SUBSCRIPTION = 'projects/local/subscriptions/changefeed-loader';
export const BENCH_SOURCE = 'bench_carts';
/** Rows land in `<table>_changes` of the warehouse. */
export const BENCH_TABLE = 'bench_carts';
const SEED = 6;
const BENCH_TIME = new Date('2026-01-01T00:00:00.000Z');

/**
 * Bus messages as the poller publishes them: a binary-mode CloudEvent (context attributes as
 * `ce-*` message attributes, the cart record as data). Message `i` is an update of cart
 * `first + i` with its own event id, so no two messages of one call share an event id or an
 * entity, and the warehouse's dedup by event id never short-circuits a write.
 */
export function buildMessages(count: number, first = 0): OutboundMessage[] {
  const products = generateProducts(SEED);
  const messages: OutboundMessage[] = [];
  for (let i = 0; i < count; i++) {
    const cartId = first + i + 1;
    const entityId = String(cartId);
    messages.push(
      changeToMessage({
        id: eventId(BENCH_SOURCE, entityId, 2, 'updated', `bench-${cartId}`),
        type: 'updated',
        source: BENCH_SOURCE,
        table: BENCH_TABLE,
        entityId,
        version: 2,
        time: BENCH_TIME,
        record: generateCart(SEED, cartId, products),
      }),
    );
  }
  return messages;
}

/** Pub/Sub push bodies as the local bus sends them: `buildMessages` in push envelopes. */
export function buildPushBodies(count: number, first = 0): Buffer[] {
  return buildMessages(count, first).map((message, i) => {
    const envelope = buildPushEnvelope({
      messageId: String(first + i + 1),
      subscription: SUBSCRIPTION,
      data: message.data,
      attributes: message.attributes,
      publishTime: BENCH_TIME,
      orderingKey: message.orderingKey,
      deliveryAttempt: 1,
    });
    return Buffer.from(JSON.stringify(envelope), 'utf8');
  });
}

/**
 * Distinct push bodies handed out once each, built ahead of a load run so that the load
 * generator only copies bytes. Should a run outpace what was built, further bodies are built
 * while it runs (slower, so counted and reported) rather than repeating one.
 */
export class DistinctBodies {
  private bodies: Buffer[] = [];
  private nextIndex = 0;
  /** How many bodies exist so far (handed out or waiting); the next one built is body `built`. */
  private built = 0;
  /** Bodies built during a run because none was waiting. */
  builtLate = 0;

  /** Builds bodies until at least `count` are waiting. */
  ensure(count: number): void {
    this.bodies = this.bodies.slice(this.nextIndex);
    this.nextIndex = 0;
    const missing = count - this.bodies.length;
    if (missing <= 0) return;
    this.bodies = this.bodies.concat(buildPushBodies(missing, this.built));
    this.built += missing;
  }

  next(): Buffer {
    const body = this.bodies[this.nextIndex];
    if (body !== undefined) {
      this.nextIndex++;
      return body;
    }
    this.builtLate++;
    const [late] = buildPushBodies(1, this.built++);
    if (late === undefined) throw new Error('buildPushBodies(1) built no body');
    return late;
  }

  /** Bodies handed out so far. */
  get used(): number {
    return this.built - (this.bodies.length - this.nextIndex);
  }
}
