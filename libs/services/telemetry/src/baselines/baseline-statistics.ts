/**
 * The statistics behind an agent's behaviour baseline: plain functions over plain numbers, so
 * what is flagged and why is tested without a database.
 */

/** The standard errors a deny or escalation rate must exceed its baseline by. */
export const RATE_SIGMA = 3;

export interface CostBaseline {
  /** Completed runs of the agent in the window, the run judged not included. */
  runs: number;
  mean: number;
  stddev: number;
}

export interface Judgement {
  flagged: boolean;
  /** The value above which it is flagged. */
  threshold: number;
}

/**
 * A run's cost (model tokens) against the agent's other runs: flagged above mean + k·σ once the
 * baseline has `minRuns` runs. σ is taken as at least a tenth of the mean and at least one token,
 * so a baseline of identical runs does not flag a run one token dearer.
 */
export function judgeCost(cost: number, baseline: CostBaseline, sigma: number, minRuns: number): Judgement {
  const spread = Math.max(baseline.stddev || 0, baseline.mean / 10, 1);
  const threshold = baseline.mean + sigma * spread;
  return { flagged: baseline.runs >= minRuns && cost > threshold, threshold };
}

export interface RateSample {
  runs: number;
  /** Runs with the behaviour (a deny, an escalation). */
  hits: number;
}

/**
 * The rate over the agent's recent runs against its older runs in the window: flagged when the
 * baseline has `minRuns` runs, the recent runs have at least `minCount` hits, and the recent rate
 * exceeds the baseline's (Laplace-smoothed, (x + 1) / (n + 2), so a baseline without a single hit
 * still has a rate) by more than RATE_SIGMA binomial standard errors of a sample of the recent size.
 */
export function judgeRate(recent: RateSample, baseline: RateSample, minRuns: number, minCount: number): Judgement & { recentRate: number; baselineRate: number } {
  const baselineRate = (baseline.hits + 1) / (baseline.runs + 2);
  const recentRate = recent.runs > 0 ? recent.hits / recent.runs : 0;
  const threshold = baselineRate + RATE_SIGMA * Math.sqrt((baselineRate * (1 - baselineRate)) / Math.max(recent.runs, 1));
  return { flagged: baseline.runs >= minRuns && recent.hits >= minCount && recentRate > threshold, threshold: Math.min(1, threshold), recentRate, baselineRate };
}

/**
 * Where a connection's calls go, as a baseline keeps it: the endpoint's host, with the port when
 * it is not the scheme's default. Null for an endpoint that is not a URL.
 */
export function egressDestination(endpoint: string | undefined): string | null {
  if (!endpoint) return null;
  try {
    const url = new URL(endpoint);
    if (!url.hostname) return null;
    return url.port ? `${url.hostname.toLowerCase()}:${url.port}` : url.hostname.toLowerCase();
  } catch {
    return null;
  }
}

/** A KPI window as the API takes it: `<n>h` or `<n>d`, from one hour to 90 days. */
export function parseWindow(raw: string | undefined, fallback = '7d'): { text: string; ms: number } | null {
  const text = raw === undefined || raw === '' ? fallback : raw;
  const match = /^([1-9][0-9]{0,3})([hd])$/.exec(text);
  if (!match) return null;
  const ms = Number(match[1]) * (match[2] === 'h' ? 3_600_000 : 86_400_000);
  return ms <= 90 * 86_400_000 ? { text, ms } : null;
}
