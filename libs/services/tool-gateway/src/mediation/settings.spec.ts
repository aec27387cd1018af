import { toGovmeshConfig, validateEnvironment } from '@govmesh/nest-runtime';
import { mediationSettings } from './settings';

const settingsFor = (env: NodeJS.ProcessEnv) => mediationSettings(toGovmeshConfig(validateEnvironment(env), 'tool-gateway', 3005));

describe('mediation settings from the environment', () => {
  it('applies the documented defaults', () => {
    expect(settingsFor({})).toEqual({ breaker: { failureThreshold: 5, cooldownMs: 30000 }, agentRateLimit: { perMinute: 30000, burst: 1000 }, toolRateLimits: {} });
  });

  it('reads the breaker and the agent bucket, and 0 per minute lifts the agent limit', () => {
    expect(settingsFor({ GOVMESH_BREAKER_FAILURES: '2', GOVMESH_BREAKER_COOLDOWN_MS: '500', GOVMESH_AGENT_RATE_PER_MINUTE: '60', GOVMESH_AGENT_RATE_BURST: '3' })).toMatchObject({
      breaker: { failureThreshold: 2, cooldownMs: 500 },
      agentRateLimit: { perMinute: 60, burst: 3 },
    });
    expect(settingsFor({ GOVMESH_AGENT_RATE_PER_MINUTE: '0' }).agentRateLimit).toBeNull();
  });

  it.each([
    ['GOVMESH_BREAKER_FAILURES', '0'],
    ['GOVMESH_BREAKER_COOLDOWN_MS', 'soon'],
    ['GOVMESH_AGENT_RATE_PER_MINUTE', '-1'],
    ['GOVMESH_AGENT_RATE_BURST', '0'],
  ])('refuses %s=%s at start, naming the variable', (name, value) => {
    expect(() => validateEnvironment({ [name]: value })).toThrow(name);
  });
});
