import { z } from 'zod';

/** What `Duration.from` takes: any mix of units, summed (the shape of tc39 `Temporal.Duration.from`). */
export interface DurationLike {
  readonly days?: number;
  readonly hours?: number;
  readonly minutes?: number;
  readonly seconds?: number;
  readonly millis?: number;
}

export type DurationUnit = 'day' | 'hour' | 'minute' | 'second' | 'millisecond';

const MS_PER: Readonly<Record<DurationUnit, number>> = {
  day: 86_400_000,
  hour: 3_600_000,
  minute: 60_000,
  second: 1000,
  millisecond: 1,
};
/** The suffixes a config file writes, largest first: `toString` picks the largest that divides exactly. */
const SUFFIXES: readonly (readonly [string, DurationUnit])[] = [
  ['d', 'day'],
  ['h', 'hour'],
  ['m', 'minute'],
  ['s', 'second'],
  ['ms', 'millisecond'],
];
const UNIT_OF_SUFFIX: ReadonlyMap<string, DurationUnit> = new Map(SUFFIXES);
/** What a duration string looks like; the JSON Schema gives editors the same pattern. */
export const DURATION_PATTERN = /^(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)$/;

/**
 * A length of time that carries its unit, so that a value is never a bare number whose unit lives
 * in its name (`leaseTtlMs`): the config, the defaults and the code that reads them all hold a
 * Duration and ask for the unit they need where they need it. Modelled on nodejs-pubsub's
 * `Duration` (src/temporal.ts), itself a small stand-in for tc39 `Temporal.Duration`
 * (https://tc39.es/proposal-temporal/docs/duration.html).
 */
export class Duration {
  private constructor(private readonly millis: number) {}

  static from(like: DurationLike): Duration {
    const millis =
      (like.days ?? 0) * MS_PER.day +
      (like.hours ?? 0) * MS_PER.hour +
      (like.minutes ?? 0) * MS_PER.minute +
      (like.seconds ?? 0) * MS_PER.second +
      (like.millis ?? 0);
    if (!Number.isFinite(millis) || millis < 0)
      throw new RangeError(`a duration must be finite and ≥ 0, got ${millis} ms`);
    return new Duration(millis);
  }

  /** `250ms`, `30s`, `5m`, `1h`, `7d`, or a bare number of milliseconds; undefined for anything else. */
  static parse(value: string | number): Duration | undefined {
    const ms = parseDurationMs(value);
    return ms === undefined ? undefined : new Duration(ms);
  }

  /** How many `unit`s fit in this duration, fractions included. */
  totalOf(unit: DurationUnit): number {
    return this.millis / MS_PER[unit];
  }

  /** The form a config file would write: the largest unit that divides it exactly (`90s`, `15m`, `0s`). */
  toString(): string {
    if (this.millis === 0) return '0s';
    for (const [suffix, unit] of SUFFIXES) {
      const amount = this.millis / MS_PER[unit];
      if (Number.isInteger(amount)) return `${amount}${suffix}`;
    }
    return `${this.millis}ms`;
  }

  /** JSON (logs, the JSON Schema's defaults) shows the written form, which `Duration.parse` reads back. */
  toJSON(): string {
    return this.toString();
  }
}

/** Parses `250ms`, `30s`, `5m`, `1h`, `7d` (or a bare number of milliseconds) into milliseconds. */
export function parseDurationMs(value: string | number): number | undefined {
  if (typeof value === 'number') return Number.isFinite(value) && value >= 0 ? value : undefined;
  const match = DURATION_PATTERN.exec(value.trim());
  if (match === null) return undefined;
  const [, amount, suffix] = match;
  const unit = UNIT_OF_SUFFIX.get(suffix ?? '');
  return unit === undefined ? undefined : Math.round(Number(amount) * MS_PER[unit]);
}

/**
 * The input a duration key accepts. It is registered as `Duration` so the JSON Schema defines it
 * once (`$defs`) and every duration key refers to it, and so the README generator can name its type.
 * Checked in the transform below rather than by a pattern here, so a bad value gets one message
 * with an example instead of a union's two.
 */
// A Duration itself is accepted too, so that parsing a parsed config again (tests, and code that
// rebuilds a source from a parsed one) gives the same config, as it did when durations were numbers.
export const durationInputSchema = z
  .union([z.number(), z.string(), z.custom<Duration>((v) => v instanceof Duration)])
  .meta({
    id: 'Duration',
    description: 'A duration: a string such as "250ms", "30s", "5m", "1h" or "7d", or a number of milliseconds.',
    examples: ['500ms', '30s', '5m'],
  });

/** A zod type for a duration written as `30s`, `5m`, `250ms`, `1h` or a number of milliseconds. */
export const durationSchema = durationInputSchema.transform((value, ctx) => {
  const duration = value instanceof Duration ? value : Duration.parse(value);
  if (duration === undefined) {
    ctx.addIssue({
      code: 'custom',
      message: `expected a duration such as "500ms", "30s", "5m" or "1h", got ${JSON.stringify(value)}`,
    });
    return z.NEVER;
  }
  return duration;
});

/**
 * A duration key with a default. The default goes in as the written form (`prefault`), so it is
 * parsed like a value from the file and the JSON Schema shows it: zod drops a transformed type's
 * output default from an input schema.
 */
export function durationWithDefault(value: Duration): z.ZodPrefault<typeof durationSchema> {
  return durationSchema.prefault(value.toString());
}
