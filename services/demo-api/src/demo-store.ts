import type { Clock } from '@changefeed/shared/ports';
import { generateCart, generateProducts, generateUsers, type Cart, type Product, type User } from './demo-data';

export interface DemoStoreOptions {
  readonly seed: number;
  /** Carts 1..N exist at start. */
  readonly carts: number;
  readonly clock: Clock;
}

/**
 * The demo API's data. Carts that were never changed are not stored: they are regenerated from
 * the seed on every read, so 100,000 carts cost one sorted id list and the changed ones.
 */
export class DemoStore {
  private seed = 0;
  private generatedCarts = 0;
  /** Ids of the carts that exist, ascending: offset and keyset pages are slices of it. */
  private ids: number[] = [];
  /** Carts created or changed through the API or the mutator; everything else is generated. */
  private changed = new Map<number, Cart>();
  private productList: Product[] = [];
  private userList: User[] = [];
  /** Deleted cart ids, so the mutator can re-create some (an id that comes back is a classic poller trap). */
  private deleted = new Set<number>();

  /** The seed's products as generated: carts are generated from these, so editing a product does not change them. */
  private baseProducts: readonly Product[] = [];
  private readonly clock: Clock;

  constructor(options: DemoStoreOptions) {
    this.clock = options.clock;
    this.reset(options);
  }

  /** Back to the generated state of `seed` with carts 1..`carts`. */
  reset(options: { readonly seed: number; readonly carts: number }): void {
    if (!Number.isInteger(options.carts) || options.carts < 0) {
      throw new RangeError(`carts must be a whole number >= 0, got ${options.carts}`);
    }
    this.seed = options.seed;
    this.generatedCarts = options.carts;
    this.ids = Array.from({ length: options.carts }, (_, i) => i + 1);
    this.changed = new Map();
    this.deleted = new Set();
    this.baseProducts = generateProducts(options.seed);
    this.productList = generateProducts(options.seed);
    this.userList = generateUsers(options.seed);
  }

  get cartCount(): number {
    return this.ids.length;
  }

  /** How many carts the last reset generated (what a reset without a count goes back to). */
  get initialCartCount(): number {
    return this.generatedCarts;
  }

  get currentSeed(): number {
    return this.seed;
  }

  /** Every existing cart id, ascending. */
  cartIds(): readonly number[] {
    return this.ids;
  }

  deletedCartIds(): readonly number[] {
    return [...this.deleted];
  }

  getCart(id: number): Cart | undefined {
    if (!this.has(id)) return undefined;
    return this.changed.get(id) ?? generateCart(this.seed, id, this.baseProducts);
  }

  /** Carts at positions [offset, offset + limit) in id order. */
  cartsAt(offset: number, limit: number): Cart[] {
    return this.ids.slice(offset, offset + limit).map((id) => this.cartById(id));
  }

  /** Up to `limit` carts with an id greater than `afterId`, in id order (keyset pagination). */
  cartsAfter(afterId: number, limit: number): Cart[] {
    const start = upperBound(this.ids, afterId);
    return this.ids.slice(start, start + limit).map((id) => this.cartById(id));
  }

  /** The largest cart id in use, 0 when there are none. */
  maxCartId(): number {
    return this.ids[this.ids.length - 1] ?? 0;
  }

  allCarts(): Cart[] {
    return this.ids.map((id) => this.cartById(id));
  }

  /** Stores `cart` (creating or replacing it). Returns true when it did not exist before. */
  putCart(cart: Cart): boolean {
    const created = !this.has(cart.id);
    if (created) {
      this.ids.splice(upperBound(this.ids, cart.id), 0, cart.id);
      this.deleted.delete(cart.id);
    }
    this.changed.set(cart.id, cart);
    return created;
  }

  /** Removes cart `id`; false when there was none. */
  deleteCart(id: number): boolean {
    const index = lowerBound(this.ids, id);
    if (this.ids[index] !== id) return false;
    this.ids.splice(index, 1);
    this.changed.delete(id);
    this.deleted.add(id);
    return true;
  }

  products(): readonly Product[] {
    return this.productList;
  }

  getProduct(id: number): Product | undefined {
    return this.productList.find((p) => p.id === id);
  }

  /**
   * Replaces product `id` with `fields` over its current values; `updatedAt` is now unless given,
   * so `?updatedSince` finds it. Returns true when the product is new.
   */
  putProduct(id: number, fields: Readonly<Record<string, unknown>>): { product: Product; created: boolean } {
    const index = this.productList.findIndex((p) => p.id === id);
    const current = this.productList[index];
    const updatedAt = typeof fields['updatedAt'] === 'string' ? fields['updatedAt'] : this.clock.now().toISOString();
    const product = {
      title: `Product ${id}`,
      category: 'misc',
      price: 0,
      stock: 0,
      ...current,
      ...fields,
      id,
      updatedAt,
    } as Product;
    if (index < 0) {
      this.productList.push(product);
      this.productList.sort((a, b) => a.id - b.id);
    } else {
      this.productList[index] = product;
    }
    return { product, created: index < 0 };
  }

  users(): readonly User[] {
    return this.userList;
  }

  private has(id: number): boolean {
    return this.ids[lowerBound(this.ids, id)] === id;
  }

  private cartById(id: number): Cart {
    return this.changed.get(id) ?? generateCart(this.seed, id, this.baseProducts);
  }
}

/** The first index whose value is >= `value` in ascending `sorted`. */
function lowerBound(sorted: readonly number[], value: number): number {
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if ((sorted[mid] ?? 0) < value) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** The first index whose value is > `value` in ascending `sorted`. */
function upperBound(sorted: readonly number[], value: number): number {
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if ((sorted[mid] ?? 0) <= value) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
