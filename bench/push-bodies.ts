import { generateCart, generateProducts } from '@changefeed/cli';
import { buildPushEnvelope, changeToMessage, eventId } from '@changefeed/shared/events';

/** What the local bus names its subscription (services/cli/src/local-pipeline.ts). */
const SUBSCRIPTION = 'projects/local/subscriptions/changefeed-loader';
export const BENCH_SOURCE = 'bench_carts';
/** Rows land in `<table>_changes` of the warehouse. */
export const BENCH_TABLE = 'bench_carts';
const SEED = 6;

/**
 * Pub/Sub push bodies as the local bus sends them: a binary-mode CloudEvent (context attributes
 * as `ce-*` message attributes, the cart record as base64 data) in a push envelope. Body `i` is
 * an update of cart `first + i` with its own event id, so no two bodies of one call share an
 * event id or an entity, and the warehouse's dedup by event id never short-circuits a write.
 */
export function buildPushBodies(count: number, first = 0): Buffer[] {
  const products = generateProducts(SEED);
  const time = new Date('2026-01-01T00:00:00.000Z');
  const bodies: Buffer[] = [];
  for (let i = 0; i < count; i++) {
    const cartId = first + i + 1;
    const record = generateCart(SEED, cartId, products);
    const entityId = String(cartId);
    const id = eventId(BENCH_SOURCE, entityId, 2, 'updated', `bench-${cartId}`);
    const message = changeToMessage({
      id,
      type: 'updated',
      source: BENCH_SOURCE,
      table: BENCH_TABLE,
      entityId,
      version: 2,
      time,
      record,
    });
    const envelope = buildPushEnvelope({
      messageId: String(cartId),
      subscription: SUBSCRIPTION,
      data: message.data,
      attributes: message.attributes,
      publishTime: time,
      orderingKey: message.orderingKey,
      deliveryAttempt: 1,
    });
    bodies.push(Buffer.from(JSON.stringify(envelope), 'utf8'));
  }
  return bodies;
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
