import { msUntilToken, refill } from './token-bucket';
import { mediationSettings, DEFAULT_AGENT_RATE_LIMIT } from './settings';
import type { GovmeshConfig } from '@govmesh/nest-runtime';

describe('token bucket', () => {
  const limit = { perMinute: 60, burst: 3 };

  it('refills at the rate, up to the burst', () => {
    expect(refill(0, 1000, limit)).toBe(1);
    expect(refill(0.5, 500, limit)).toBe(1);
    expect(refill(2, 10_000, limit)).toBe(3);
    expect(refill(1, -5000, limit)).toBe(1);
  });

  it('says how long until the next token', () => {
    expect(msUntilToken(1, limit)).toBe(0);
    expect(msUntilToken(0, limit)).toBe(1000);
    expect(msUntilToken(0.75, limit)).toBe(250);
  });
});

describe('mediation settings', () => {
  const config = {} as GovmeshConfig;

  it('defaults without config fields', () => {
    expect(mediationSettings(config)).toEqual({ breaker: { failureThreshold: 5, cooldownMs: 30_000 }, agentRateLimit: DEFAULT_AGENT_RATE_LIMIT, toolRateLimits: {} });
  });

  it('reads the config fields when present; a per-agent rate of 0 means no limit', () => {
    const c = { ...config, breakerFailures: 2, breakerCooldownMs: 100, agentRatePerMinute: 0 } as GovmeshConfig;
    expect(mediationSettings(c)).toMatchObject({ breaker: { failureThreshold: 2, cooldownMs: 100 }, agentRateLimit: null });
    expect(mediationSettings({ ...config, agentRatePerMinute: 10, agentRateBurst: 2 } as GovmeshConfig).agentRateLimit).toEqual({ perMinute: 10, burst: 2 });
  });
});
