/** A token bucket: holds up to `burst` tokens, refilled at `perMinute`; a call takes one. */
export interface RateLimit {
  perMinute: number;
  burst: number;
}

/** The tokens in a bucket that held `tokens` `elapsedMs` ago. */
export function refill(tokens: number, elapsedMs: number, limit: RateLimit): number {
  return Math.min(limit.burst, tokens + (Math.max(0, elapsedMs) * limit.perMinute) / 60_000);
}

/** Milliseconds until a bucket holding `tokens` has one to give. */
export function msUntilToken(tokens: number, limit: RateLimit): number {
  return tokens >= 1 ? 0 : Math.ceil(((1 - tokens) * 60_000) / limit.perMinute);
}
