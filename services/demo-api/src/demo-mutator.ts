import type { Logger } from '@changefeed/shared/log';
import type { Clock } from '@changefeed/shared/ports';
import { cartTotals, CART_STATUSES, generateCart, randomLines, type Cart, type CartLine } from './demo-data';
import type { DemoStore } from './demo-store';
import { mulberry32, pick, randomInt, type Random } from './prng';

export const MutationType = { created: 'created', updated: 'updated', deleted: 'deleted' } as const;
export type MutationType = (typeof MutationType)[keyof typeof MutationType];

export interface Mutation {
  readonly type: MutationType;
  readonly id: number;
}

export interface DemoMutatorOptions {
  /** Changes per second while started; 0 leaves the data alone (step() still works). */
  readonly changesPerSecond: number;
  readonly seed: number;
  readonly clock: Clock;
  readonly logger?: Logger;
}

/** Share of changes that create a cart, then that delete one; the rest update one. */
const CREATE_SHARE = 0.2;
const DELETE_SHARE = 0.15;
/** Share of creations that bring back a deleted id rather than a new one. */
const RECREATE_SHARE = 0.3;
/** The mutator wakes at most this often and applies the changes that fell due meanwhile. */
const MIN_TICK_MS = 50;

/**
 * Changes the demo carts the way a live shop would, reproducibly: the same seed and the same
 * number of steps give the same creations, updates and deletions (timestamps come from the clock).
 */
export class DemoMutator {
  private random: Random;
  private running: { readonly controller: AbortController; readonly done: Promise<void> } | undefined;
  private readonly totals: Record<MutationType, number> = { created: 0, updated: 0, deleted: 0 };

  constructor(
    private readonly store: DemoStore,
    private readonly options: DemoMutatorOptions,
  ) {
    this.random = mulberry32(options.seed ^ 0x4d555441);
  }

  /** Changes applied so far, by type. */
  get counts(): Readonly<Record<MutationType, number>> {
    return { ...this.totals };
  }

  get changesPerSecond(): number {
    return this.options.changesPerSecond;
  }

  /** Restarts the random sequence (with the store's reset). */
  reseed(seed: number): void {
    this.random = mulberry32(seed ^ 0x4d555441);
  }

  /** Applies `count` random changes now. */
  step(count = 1): Mutation[] {
    const applied: Mutation[] = [];
    for (let i = 0; i < count; i++) {
      const mutation = this.mutateOnce();
      this.totals[mutation.type] += 1;
      applied.push(mutation);
    }
    return applied;
  }

  /** Starts changing carts at `changesPerSecond` until stop(); does nothing at rate 0 or if running. */
  start(): void {
    if (this.running !== undefined || this.options.changesPerSecond <= 0) return;
    const controller = new AbortController();
    this.running = { controller, done: this.run(controller.signal) };
  }

  async stop(): Promise<void> {
    const running = this.running;
    if (running === undefined) return;
    this.running = undefined;
    running.controller.abort();
    await running.done;
  }

  private async run(signal: AbortSignal): Promise<void> {
    const { clock, changesPerSecond } = this.options;
    const tickMs = Math.max(MIN_TICK_MS, 1000 / changesPerSecond);
    let last = clock.now().getTime();
    let owed = 0;
    while (!signal.aborted) {
      try {
        await clock.sleep(tickMs, signal);
      } catch {
        return; // stopped
      }
      const now = clock.now().getTime();
      owed += (changesPerSecond * (now - last)) / 1000;
      last = now;
      const due = Math.floor(owed);
      owed -= due;
      const applied = this.step(due);
      if (applied.length > 0) this.options.logger?.debug('demo carts changed', { changes: applied.length });
    }
  }

  private mutateOnce(): Mutation {
    const ids = this.store.cartIds();
    const r = this.random();
    if (ids.length === 0 || r < CREATE_SHARE) return this.create();
    if (r < CREATE_SHARE + DELETE_SHARE) {
      const id = pick(this.random, ids);
      this.store.deleteCart(id);
      return { type: MutationType.deleted, id };
    }
    return this.update(pick(this.random, ids));
  }

  private create(): Mutation {
    const deleted = this.store.deletedCartIds();
    const id =
      deleted.length > 0 && this.random() < RECREATE_SHARE ? pick(this.random, deleted) : this.store.maxCartId() + 1;
    const now = this.options.clock.now().toISOString();
    const base = generateCart(Math.floor(this.random() * 2 ** 32), id, this.store.products());
    this.store.putCart({ ...base, status: 'open', createdAt: now, updatedAt: now });
    return { type: MutationType.created, id };
  }

  private update(id: number): Mutation {
    const cart = this.store.getCart(id);
    if (cart === undefined) return this.create();
    const lines = Array.isArray(cart['products']) ? (cart['products'] as CartLine[]) : [];
    const r = this.random();
    let next: Cart;
    if (r < 0.6 && lines.length > 0) {
      const at = randomInt(this.random, 0, lines.length - 1);
      const changed = lines.map((line, i) => (i === at ? { ...line, quantity: (line.quantity % 5) + 1 } : line));
      next = { ...cart, products: changed, ...cartTotals(changed) };
    } else if (r < 0.8) {
      next = { ...cart, status: pick(this.random, CART_STATUSES) };
    } else {
      const changed = randomLines(this.random, this.store.products());
      next = { ...cart, products: changed, ...cartTotals(changed) };
    }
    this.store.putCart({ ...next, updatedAt: this.options.clock.now().toISOString() });
    return { type: MutationType.updated, id };
  }
}
