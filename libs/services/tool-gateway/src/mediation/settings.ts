import type { GovmeshConfig } from '@govmesh/nest-runtime';
import { DEFAULT_BREAKER_SETTINGS, type BreakerSettings } from './circuit-breaker';
import type { RateLimit } from './token-bucket';

/**
 * How the gateway mediates calls: read from the config (GOVMESH_BREAKER_FAILURES,
 * GOVMESH_BREAKER_COOLDOWN_MS, GOVMESH_AGENT_RATE_PER_MINUTE, GOVMESH_AGENT_RATE_BURST); a test
 * may provide `MEDIATION_SETTINGS` (a partial override) from a global module.
 */
export interface MediationSettings {
  breaker: BreakerSettings;
  /** The bucket every agent gets, over all its tool calls; null: no per-agent limit. */
  agentRateLimit: RateLimit | null;
  /** Overrides of the tools' own limits (ToolDefinition.rateLimit), by tool name; null removes a limit. */
  toolRateLimits: Record<string, RateLimit | null>;
}

/**
 * The default agent bucket (GOVMESH_AGENT_RATE_PER_MINUTE / _BURST): generous enough for the
 * bench's full speed (~150 runs/s of one agent); it catches a runaway agent, not a busy one.
 */
export const DEFAULT_AGENT_RATE_LIMIT: RateLimit = { perMinute: 30_000, burst: 1_000 };

export const MEDIATION_SETTINGS = Symbol('MEDIATION_SETTINGS');

export function mediationSettings(config: GovmeshConfig, override: Partial<MediationSettings> = {}): MediationSettings {
  // Configs built by hand (tests, tools) may lack the mediation fields: the defaults apply.
  const c: Partial<GovmeshConfig> = config;
  const perMinute = c.agentRatePerMinute ?? DEFAULT_AGENT_RATE_LIMIT.perMinute;
  return {
    breaker: { failureThreshold: c.breakerFailures ?? DEFAULT_BREAKER_SETTINGS.failureThreshold, cooldownMs: c.breakerCooldownMs ?? DEFAULT_BREAKER_SETTINGS.cooldownMs },
    agentRateLimit: perMinute > 0 ? { perMinute, burst: c.agentRateBurst ?? DEFAULT_AGENT_RATE_LIMIT.burst } : null,
    toolRateLimits: {},
    ...override,
  };
}
