import { egressDestination, judgeCost, judgeRate, parseWindow } from './baseline-statistics';

describe('behaviour baseline statistics', () => {
  it('flags a run costing more than mean + k standard deviations, once the baseline has enough runs', () => {
    expect(judgeCost(1600, { runs: 20, mean: 1000, stddev: 150 }, 3, 20)).toEqual({ flagged: true, threshold: 1450 });
    expect(judgeCost(1400, { runs: 20, mean: 1000, stddev: 150 }, 3, 20).flagged).toBe(false);
    expect(judgeCost(5000, { runs: 19, mean: 1000, stddev: 150 }, 3, 20).flagged).toBe(false);
  });

  it('takes the spread of identical runs as a tenth of their mean, so one token more is no outlier', () => {
    expect(judgeCost(1001, { runs: 30, mean: 1000, stddev: 0 }, 3, 20)).toEqual({ flagged: false, threshold: 1300 });
    expect(judgeCost(1301, { runs: 30, mean: 1000, stddev: 0 }, 3, 20).flagged).toBe(true);
    expect(judgeCost(4, { runs: 30, mean: 0, stddev: 0 }, 3, 20)).toEqual({ flagged: true, threshold: 3 });
  });

  it('flags a deny rate far above a baseline that never denied, only with enough denies', () => {
    expect(judgeRate({ runs: 20, hits: 5 }, { runs: 100, hits: 0 }, 20, 5).flagged).toBe(true);
    expect(judgeRate({ runs: 20, hits: 4 }, { runs: 100, hits: 0 }, 20, 5).flagged).toBe(false);
    expect(judgeRate({ runs: 20, hits: 5 }, { runs: 10, hits: 0 }, 20, 5).flagged).toBe(false);
  });

  it('does not flag a rate the baseline already has', () => {
    expect(judgeRate({ runs: 20, hits: 6 }, { runs: 100, hits: 30 }, 20, 5).flagged).toBe(false);
    expect(judgeRate({ runs: 20, hits: 16 }, { runs: 100, hits: 30 }, 20, 5).flagged).toBe(true);
  });

  it('keeps the host (and a port other than the default) of an endpoint', () => {
    expect(egressDestination('https://Billing.example.com/api')).toBe('billing.example.com');
    expect(egressDestination('http://10.0.0.5:8443/mcp')).toBe('10.0.0.5:8443');
    expect(egressDestination('not a url')).toBeNull();
    expect(egressDestination(undefined)).toBeNull();
  });

  it('reads a KPI window of hours or days up to 90 days', () => {
    expect(parseWindow(undefined)).toEqual({ text: '7d', ms: 7 * 86_400_000 });
    expect(parseWindow('36h')).toEqual({ text: '36h', ms: 36 * 3_600_000 });
    for (const bad of ['0d', '91d', '7', 'd7', '7w', '-1d', '1.5d', '7d ']) expect({ bad, parsed: parseWindow(bad) }).toEqual({ bad, parsed: null });
  });
});
