import { deriveSeed, mulberry32, pick, randomInt, type Random } from './prng';

/** A cart as the demo API serves it (about 450 bytes of JSON). */
export interface Cart {
  readonly id: number;
  readonly [field: string]: unknown;
}

export interface CartLine {
  readonly productId: number;
  readonly title: string;
  readonly quantity: number;
  readonly price: number;
}

export interface Product {
  readonly id: number;
  readonly title: string;
  readonly category: string;
  readonly price: number;
  readonly stock: number;
  readonly updatedAt: string;
  readonly [field: string]: unknown;
}

export interface User {
  readonly id: number;
  readonly name: string;
  readonly email: string;
  readonly city: string;
  readonly country: string;
}

export const PRODUCT_COUNT = 20;
export const USER_COUNT = 10;

/** Generated timestamps start here, so the data does not depend on when it was generated. */
const EPOCH_MS = Date.parse('2024-01-01T00:00:00.000Z');
const DAY_MS = 86_400_000;

const PRODUCT_NAMES = [
  ['Espresso beans 1kg', 'grocery'],
  ['Oat milk 6-pack', 'grocery'],
  ['Ceramic mug', 'kitchen'],
  ['Pour-over kettle', 'kitchen'],
  ['Burr grinder', 'kitchen'],
  ['Linen apron', 'apparel'],
  ['Wool socks', 'apparel'],
  ['Rain jacket', 'apparel'],
  ['Trail runners', 'footwear'],
  ['Canvas sneakers', 'footwear'],
  ['Desk lamp', 'home'],
  ['Throw blanket', 'home'],
  ['Scented candle', 'home'],
  ['Notebook A5', 'stationery'],
  ['Fountain pen', 'stationery'],
  ['Wireless earbuds', 'electronics'],
  ['USB-C charger', 'electronics'],
  ['E-reader', 'electronics'],
  ['Yoga mat', 'sports'],
  ['Water bottle', 'sports'],
] as const;

const FIRST_NAMES = ['Ada', 'Grace', 'Alan', 'Edsger', 'Barbara', 'Donald', 'Frances', 'Ken', 'Margaret', 'Linus'];
const LAST_NAMES = [
  'Lovelace',
  'Hopper',
  'Turing',
  'Dijkstra',
  'Liskov',
  'Knuth',
  'Allen',
  'Thompson',
  'Hamilton',
  'Torvalds',
];
const CITIES = [
  ['Lisbon', 'PT'],
  ['Berlin', 'DE'],
  ['Lyon', 'FR'],
  ['Utrecht', 'NL'],
  ['Turin', 'IT'],
  ['Ghent', 'BE'],
  ['Malmö', 'SE'],
  ['Cork', 'IE'],
] as const;
const STREETS = ['Main Street', 'Station Road', 'Harbour Lane', 'Market Square', 'Mill Road', 'Church Street'];
export const CART_STATUSES = ['open', 'open', 'open', 'checked_out', 'abandoned'] as const;
const CHANNELS = ['web', 'ios', 'android'] as const;

function money(value: number): number {
  return Math.round(value * 100) / 100;
}

/** The 20 products of seed `seed`, ids 1..20; prices and stock vary with the seed, names do not. */
export function generateProducts(seed: number): Product[] {
  return PRODUCT_NAMES.map(([title, category], i) => {
    const random = mulberry32(deriveSeed(seed ^ 0x50524f44, i));
    return {
      id: i + 1,
      title,
      category,
      price: money(2 + random() * 120),
      stock: randomInt(random, 0, 500),
      updatedAt: new Date(EPOCH_MS + (i + 1) * 3_600_000).toISOString(),
    };
  });
}

/** The 10 users of seed `seed`, ids 1..10. */
export function generateUsers(seed: number): User[] {
  return Array.from({ length: USER_COUNT }, (_, i) => {
    const random = mulberry32(deriveSeed(seed ^ 0x55534552, i));
    const first = FIRST_NAMES[i] ?? 'Sam';
    const last = pick(random, LAST_NAMES);
    const [city, country] = pick(random, CITIES);
    return {
      id: i + 1,
      name: `${first} ${last}`,
      email: `${first}.${last}@example.com`.toLowerCase(),
      city,
      country,
    };
  });
}

/** Cart lines with their totals recomputed, as a cart carries them. */
export function cartTotals(lines: readonly CartLine[]): Record<string, number> {
  const total = money(lines.reduce((sum, line) => sum + line.price * line.quantity, 0));
  return {
    totalProducts: lines.length,
    totalQuantity: lines.reduce((sum, line) => sum + line.quantity, 0),
    total,
    discountedTotal: money(total * 0.95),
  };
}

/** A random set of cart lines from `products`. */
export function randomLines(random: Random, products: readonly Product[]): CartLine[] {
  const count = randomInt(random, 1, 3);
  const lines: CartLine[] = [];
  for (let i = 0; i < count; i++) {
    const product = pick(random, products);
    if (lines.some((line) => line.productId === product.id)) continue;
    lines.push({
      productId: product.id,
      title: product.title,
      quantity: randomInt(random, 1, 5),
      price: product.price,
    });
  }
  return lines;
}

/**
 * Cart `id` of seed `seed`, computed from the two alone: the API serves 100,000 carts without
 * keeping them in memory, generating each page's carts when asked.
 */
export function generateCart(seed: number, id: number, products: readonly Product[]): Cart {
  const random = mulberry32(deriveSeed(seed, id));
  const createdMs = EPOCH_MS + Math.floor(random() * 30 * DAY_MS);
  const lines = randomLines(random, products);
  const [city, country] = pick(random, CITIES);
  return {
    id,
    userId: randomInt(random, 1, USER_COUNT),
    status: pick(random, CART_STATUSES),
    channel: pick(random, CHANNELS),
    currency: 'EUR',
    createdAt: new Date(createdMs).toISOString(),
    updatedAt: new Date(createdMs + Math.floor(random() * DAY_MS)).toISOString(),
    products: lines,
    ...cartTotals(lines),
    shippingAddress: {
      street: `${randomInt(random, 1, 250)} ${pick(random, STREETS)}`,
      city,
      postalCode: String(randomInt(random, 10000, 99999)),
      country,
    },
  };
}
