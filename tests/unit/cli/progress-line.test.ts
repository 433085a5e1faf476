import { ProgressLine, type ProgressSample } from '../../../services/cli/src/progress-line';

function sample(overrides: Partial<ProgressSample> = {}): ProgressSample {
  return { at: 0, delivered: 0, pending: 0, deadLettered: 0, lagMs: 0, cycles: 0, ...overrides };
}

describe('ProgressLine', () => {
  it('shows a rate of 0 for the first sample, which has nothing to compare with', () => {
    const line = new ProgressLine();

    expect(line.render(sample({ delivered: 500, pending: 18, lagMs: 300, deadLettered: 2, cycles: 7 }))).toBe(
      'events/s 0 · delivered 500 · queue 18 · lag 0.3s · dead-lettered 2 · cycles 7',
    );
  });

  it('takes the rate over the last interval, so it falls to 0 when the pipeline goes quiet', () => {
    const line = new ProgressLine();
    line.render(sample({ at: 10_000, delivered: 100 }));

    const busy = line.render(sample({ at: 12_000, delivered: 925 }));
    const quiet = line.render(sample({ at: 14_000, delivered: 925 }));

    expect(busy).toMatch(/^events\/s 413 · delivered 925 · /);
    expect(quiet).toMatch(/^events\/s 0 · delivered 925 · /);
  });

  it('shows a rate of 0 rather than dividing by a zero interval', () => {
    const line = new ProgressLine();
    line.render(sample({ at: 5_000, delivered: 10 }));

    expect(line.render(sample({ at: 5_000, delivered: 20 }))).toMatch(/^events\/s 0 · /);
  });

  it.each([
    [0, 'lag 0.0s'],
    [9_949, 'lag 9.9s'],
    [10_000, 'lag 10s'],
    [125_400, 'lag 125s'],
  ])('shows a lag of %i ms as "%s": tenths under 10 s, whole seconds above', (lagMs, text) => {
    expect(new ProgressLine().render(sample({ lagMs }))).toContain(` · ${text} · `);
  });
});
