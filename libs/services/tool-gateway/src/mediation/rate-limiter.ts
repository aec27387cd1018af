import type { UnitOfWork } from '@govmesh/messaging';
import { msUntilToken, refill, type RateLimit } from './token-bucket';

export type RateScope = 'agent' | 'tool';

export interface RateRequest {
  agentId: string;
  tool: string;
  agentLimit: RateLimit | null;
  toolLimit: RateLimit | null;
}

export interface RateRefusal {
  scope: RateScope;
  /** When the refusing bucket next has a token. */
  retryAfterMs: number;
}

interface Bucket {
  tokens: number;
  limit: RateLimit;
  touched: boolean;
}

/**
 * Token buckets per agent and per tool, in the gateway's `rate_buckets` table so that every
 * instance draws on the same buckets. One batch takes its tokens in its own transaction: the
 * buckets it needs are locked (in key order, so two instances never deadlock), refilled by the
 * time elapsed on the database's clock, drawn from, and written back. A batch that rolls back
 * gives its tokens back with it.
 */
export class RateLimiter {
  /** For each request, in order: null when it may go, else the bucket that refused it. A call takes a token from both its buckets or from neither. */
  async take(uow: UnitOfWork, requests: readonly RateRequest[]): Promise<Array<RateRefusal | null>> {
    const limits = new Map<string, RateLimit>();
    for (const r of requests) {
      if (r.agentLimit) limits.set(agentKey(r.agentId), r.agentLimit);
      if (r.toolLimit) limits.set(toolKey(r.tool), r.toolLimit);
    }
    if (limits.size === 0) return requests.map(() => null);
    const entries = [...limits].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    const keys = entries.map(([k]) => k);
    const table = uow.table('rate_buckets');
    // A new bucket starts full.
    await uow.query(`INSERT INTO ${table} (key, tokens, updated_at) SELECT k, t, clock_timestamp() FROM unnest($1::text[], $2::float8[]) AS u(k, t) ON CONFLICT (key) DO NOTHING`, [
      keys,
      entries.map(([, limit]) => limit.burst),
    ]);
    const rows = await uow.query<{ key: string; tokens: number; elapsed_ms: number; now: string }>(
      `SELECT key, tokens, (extract(epoch FROM clock_timestamp() - updated_at) * 1000)::float8 AS elapsed_ms, clock_timestamp()::text AS now
       FROM ${table} WHERE key = ANY($1) ORDER BY key FOR UPDATE`,
      [keys],
    );
    const now = rows[0]?.now;
    const buckets = new Map<string, Bucket>();
    for (const r of rows) {
      const limit = limits.get(r.key);
      if (limit) buckets.set(r.key, { tokens: refill(Number(r.tokens), Number(r.elapsed_ms), limit), limit, touched: false });
    }
    const answers = requests.map((r): RateRefusal | null => {
      const agent = r.agentLimit ? buckets.get(agentKey(r.agentId)) : undefined;
      const tool = r.toolLimit ? buckets.get(toolKey(r.tool)) : undefined;
      if (agent && agent.tokens < 1) return { scope: 'agent', retryAfterMs: msUntilToken(agent.tokens, agent.limit) };
      if (tool && tool.tokens < 1) return { scope: 'tool', retryAfterMs: msUntilToken(tool.tokens, tool.limit) };
      for (const b of [agent, tool]) {
        if (!b) continue;
        b.tokens -= 1;
        b.touched = true;
      }
      return null;
    });
    const touched = [...buckets].filter(([, b]) => b.touched);
    if (touched.length > 0) {
      await uow.query(`UPDATE ${table} AS b SET tokens = u.t, updated_at = $3::timestamptz FROM unnest($1::text[], $2::float8[]) AS u(k, t) WHERE b.key = u.k`, [
        touched.map(([k]) => k),
        touched.map(([, b]) => b.tokens),
        now,
      ]);
    }
    return answers;
  }
}

const agentKey = (agentId: string) => `agent:${agentId}`;
const toolKey = (tool: string) => `tool:${tool}`;
