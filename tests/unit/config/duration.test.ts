import { Duration, parseConfig, sourceSchema } from '@changefeed/shared/config';
import { issuesOf } from '../../support/config-issues';

describe('Duration', () => {
  it('sums the units it is made of and answers in any unit', () => {
    const d = Duration.from({ minutes: 1, seconds: 30, millis: 250 });

    expect(d.totalOf('millisecond')).toBe(90_250);
    expect(d.totalOf('second')).toBe(90.25);
    expect(Duration.from({ hours: 36 }).totalOf('day')).toBe(1.5);
  });

  it('reads what a config file writes, and a bare number as milliseconds', () => {
    expect(Duration.parse('250ms')?.totalOf('millisecond')).toBe(250);
    expect(Duration.parse('2.5s')?.totalOf('millisecond')).toBe(2500);
    expect(Duration.parse(' 5m ')?.totalOf('second')).toBe(300);
    expect(Duration.parse('7d')?.totalOf('hour')).toBe(168);
    expect(Duration.parse(1500)?.totalOf('second')).toBe(1.5);
  });

  it('refuses what is not a duration', () => {
    for (const bad of ['soon', '5 minutes', '-1s', '1w', '', -5, Number.NaN])
      expect(Duration.parse(bad)).toBeUndefined();
    expect(() => Duration.from({ seconds: -1 })).toThrow(RangeError);
  });

  it('writes itself in the largest unit that divides it, which it reads back', () => {
    const written = [0, 10, 1500, 60_000, 90_000, 900_000, 3_600_000, 86_400_000].map((ms) =>
      Duration.from({ millis: ms }).toString(),
    );

    expect(written).toEqual(['0s', '10ms', '1500ms', '1m', '90s', '15m', '1h', '1d']);
    expect(written.map((w) => Duration.parse(w)?.toString())).toEqual(written);
    expect(JSON.stringify({ leaseTtl: Duration.from({ seconds: 60 }) })).toBe('{"leaseTtl":"1m"}');
  });

  it('is what the config holds for every duration key, defaults included', () => {
    const config = parseConfig(
      `sources:
  - { name: carts, mode: stream, request: { url: "http://localhost/carts" }, idField: id, table: carts }
poller: { leaseTtl: 90s }
`,
      'c.yaml',
    );

    expect(config.poller.leaseTtl).toBeInstanceOf(Duration);
    expect(config.poller.leaseTtl.totalOf('second')).toBe(90);
    expect(config.sources[0]?.request.timeout.totalOf('second')).toBe(30);
    expect(config.bus.maxBackoff.totalOf('minute')).toBe(10);
  });

  it('parses a parsed source again to the same source', () => {
    const source = sourceSchema.parse({
      name: 'carts',
      mode: 'stream',
      request: { url: 'http://localhost/carts', timeout: '2s' },
      idField: 'id',
      table: 'carts',
    });

    expect(sourceSchema.parse(source)).toEqual(source);
  });

  it('names the key and shows the bad value', () => {
    expect(
      issuesOf(`sources:
  - { name: carts, mode: stream, request: { url: "http://localhost/carts" }, idField: id, table: carts }
poller: { leaseTtl: 1 week }
`),
    ).toEqual(['3:poller.leaseTtl: expected a duration such as "500ms", "30s", "5m" or "1h", got "1 week"']);
  });
});
