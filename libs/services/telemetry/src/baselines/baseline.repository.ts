import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import type { DataSource } from 'typeorm';
import { queryRows, type UnitOfWork } from '@govmesh/messaging';
import { TELEMETRY_DATABASE, TELEMETRY_SERVICE } from '../database';
import type { RateSample } from './baseline-statistics';

const SCHEMA = TELEMETRY_DATABASE.schema;
const t = (name: string) => `"${SCHEMA}"."${name}"`;

/** What one batch says about one run; merged into its profile (flags OR-ed, tokens added, first values kept). */
export interface RunFacts {
  run_id: string;
  agent_id: string | null;
  workflow_id: string | null;
  cost_tokens: number;
  denied: boolean;
  escalated: boolean;
  overridden: boolean;
  first_seen_at: string;
  started_at: string | null;
  completed_at: string | null;
  outcome: string | null;
}

/** A run's profile after the merge, with what it was before (to count each case's firsts once). */
export interface MergedRun {
  run_id: string;
  agent_id: string | null;
  workflow_id: string | null;
  cost_tokens: string;
  escalated: boolean;
  overridden: boolean;
  started_at: Date | null;
  completed_at: Date | null;
  outcome: string | null;
  was_escalated: boolean | null;
  was_overridden: boolean | null;
  was_completed: boolean | null;
}

export interface UsageEntry {
  agent_id: string;
  dimension: 'tool' | 'egress';
  subject: string;
  day: string;
  calls: number;
  last_seen_at: string;
}

export interface AlertCandidate {
  agent_id: string;
  kind: string;
  subject: string;
  run_id: string;
  observed: number;
  expected: number;
  raised_at: string;
}

export interface RateRow {
  agent_id: string;
  recent: RateSample & { escalated: number };
  baseline: RateSample & { escalated: number };
}

/** All SQL of behaviour baselines and workflow KPIs: set-based, one statement per table and batch. */
@Injectable()
export class BaselineRepository {
  constructor(@InjectDataSource(TELEMETRY_SERVICE) private readonly dataSource: DataSource) {}

  /** Learns where tools and connections send their calls (registry events), newest event wins. */
  async recordRoutes(uow: UnitOfWork, routes: ReadonlyArray<{ kind: 'tool' | 'connection'; id: string; destination: string | null; updated_at: string }>): Promise<void> {
    if (routes.length === 0) return;
    await uow.query(
      `INSERT INTO ${uow.table('egress_routes')} (kind, id, destination, updated_at)
       SELECT kind, id, destination, updated_at FROM jsonb_to_recordset($1::jsonb) AS v(kind varchar, id varchar, destination varchar, updated_at timestamptz)
       ON CONFLICT (kind, id) DO UPDATE SET destination = EXCLUDED.destination, updated_at = EXCLUDED.updated_at
       WHERE ${uow.table('egress_routes')}.updated_at <= EXCLUDED.updated_at`,
      [JSON.stringify(routes)],
    );
  }

  /** The destination of each tool's calls: the connection's host, `connection:<id>` when its endpoint is unknown, null without a connection. */
  async destinations(uow: UnitOfWork, tools: readonly string[]): Promise<Map<string, string | null>> {
    if (tools.length === 0) return new Map();
    const rows = await uow.query<{ tool: string; connection: string | null; host: string | null }>(
      `SELECT tr.id AS tool, tr.destination AS connection, cr.destination AS host
       FROM ${uow.table('egress_routes')} tr LEFT JOIN ${uow.table('egress_routes')} cr ON cr.kind = 'connection' AND cr.id = tr.destination
       WHERE tr.kind = 'tool' AND tr.id = ANY($1)`,
      [tools],
    );
    return new Map(rows.map((r) => [r.tool, r.connection === null ? null : (r.host ?? `connection:${r.connection}`)]));
  }

  /**
   * Merges the batch's facts into the runs' profiles with one statement; returns each profile as
   * merged and as it was (null for a new one), so a case's first escalation, override and
   * completion are counted once.
   */
  async mergeRuns(uow: UnitOfWork, facts: readonly RunFacts[]): Promise<MergedRun[]> {
    if (facts.length === 0) return [];
    const table = uow.table('run_profiles');
    return uow.query<MergedRun>(
      `WITH v AS (
         SELECT * FROM jsonb_to_recordset($1::jsonb) AS v(run_id varchar, agent_id varchar, workflow_id varchar, cost_tokens bigint, denied boolean, escalated boolean,
                                                        overridden boolean, first_seen_at timestamptz, started_at timestamptz, completed_at timestamptz, outcome varchar)
       ), old AS (
         SELECT p.run_id, p.escalated, p.overridden, p.completed_at FROM ${table} p WHERE p.run_id IN (SELECT run_id FROM v)
       ), up AS (
         INSERT INTO ${table} AS p (run_id, agent_id, workflow_id, cost_tokens, denied, escalated, overridden, first_seen_at, started_at, completed_at, outcome)
         SELECT run_id, agent_id, workflow_id, cost_tokens, denied, escalated, overridden, first_seen_at, started_at, completed_at, outcome FROM v
         ON CONFLICT (run_id) DO UPDATE SET
           agent_id = COALESCE(p.agent_id, EXCLUDED.agent_id),
           workflow_id = COALESCE(p.workflow_id, EXCLUDED.workflow_id),
           cost_tokens = p.cost_tokens + EXCLUDED.cost_tokens,
           denied = p.denied OR EXCLUDED.denied,
           escalated = p.escalated OR EXCLUDED.escalated,
           overridden = p.overridden OR EXCLUDED.overridden,
           first_seen_at = LEAST(p.first_seen_at, EXCLUDED.first_seen_at),
           started_at = COALESCE(EXCLUDED.started_at, p.started_at),
           completed_at = COALESCE(p.completed_at, EXCLUDED.completed_at),
           outcome = COALESCE(p.outcome, EXCLUDED.outcome)
         RETURNING p.run_id, p.agent_id, p.workflow_id, p.cost_tokens, p.escalated, p.overridden, p.started_at, p.completed_at, p.outcome
       )
       SELECT up.*, old.escalated AS was_escalated, old.overridden AS was_overridden, (old.completed_at IS NOT NULL) AS was_completed
       FROM up LEFT JOIN old ON old.run_id = up.run_id`,
      [JSON.stringify(facts)],
    );
  }

  /** Completed runs of each agent since `from`, the runs under judgement left out: how far its warm-up is. */
  async completedRuns(uow: UnitOfWork, agents: readonly string[], from: Date, excluding: readonly string[]): Promise<Map<string, number>> {
    if (agents.length === 0) return new Map();
    const rows = await uow.query<{ agent_id: string; n: string }>(
      `SELECT agent_id, count(*) AS n FROM ${uow.table('run_profiles')} WHERE agent_id = ANY($1) AND completed_at >= $2 AND NOT (run_id = ANY($3)) GROUP BY agent_id`,
      [agents, from.toISOString(), excluding],
    );
    return new Map(rows.map((r) => [r.agent_id, Number(r.n)]));
  }

  /** Which of these (agent, dimension, subject) the agent used since `fromDay`, as `agent\u0000dimension\u0000subject`. */
  async seenSince(uow: UnitOfWork, entries: ReadonlyArray<Pick<UsageEntry, 'agent_id' | 'dimension' | 'subject'>>, fromDay: string): Promise<Set<string>> {
    if (entries.length === 0) return new Set();
    const rows = await uow.query<{ agent_id: string; dimension: string; subject: string }>(
      `SELECT DISTINCT u.agent_id, u.dimension, u.subject FROM ${uow.table('agent_usage')} u
       JOIN unnest($1::varchar[], $2::varchar[], $3::varchar[]) AS c(agent_id, dimension, subject) USING (agent_id, dimension, subject)
       WHERE u.day >= $4::date`,
      [entries.map((e) => e.agent_id), entries.map((e) => e.dimension), entries.map((e) => e.subject), fromDay],
    );
    return new Set(rows.map((r) => usageKey(r)));
  }

  async recordUsage(uow: UnitOfWork, entries: readonly UsageEntry[]): Promise<void> {
    if (entries.length === 0) return;
    await uow.query(
      `INSERT INTO ${uow.table('agent_usage')} AS u (agent_id, dimension, subject, day, calls, last_seen_at)
       SELECT agent_id, dimension, subject, day, calls, last_seen_at
       FROM jsonb_to_recordset($1::jsonb) AS v(agent_id varchar, dimension varchar, subject varchar, day date, calls integer, last_seen_at timestamptz)
       ON CONFLICT (agent_id, dimension, subject, day) DO UPDATE SET calls = u.calls + EXCLUDED.calls, last_seen_at = GREATEST(u.last_seen_at, EXCLUDED.last_seen_at)`,
      [JSON.stringify(entries)],
    );
  }

  /** Mean and standard deviation of the cost of each agent's completed runs since `from`, the given runs left out. */
  async costBaselines(uow: UnitOfWork, agents: readonly string[], from: Date, excluding: readonly string[]): Promise<Map<string, { runs: number; mean: number; stddev: number }>> {
    if (agents.length === 0) return new Map();
    const rows = await uow.query<{ agent_id: string; n: string; mean: string | null; sd: string | null }>(
      `SELECT agent_id, count(*) AS n, avg(cost_tokens) AS mean, stddev_samp(cost_tokens) AS sd FROM ${uow.table('run_profiles')}
       WHERE agent_id = ANY($1) AND completed_at >= $2 AND NOT (run_id = ANY($3)) GROUP BY agent_id`,
      [agents, from.toISOString(), excluding],
    );
    return new Map(rows.map((r) => [r.agent_id, { runs: Number(r.n), mean: Number(r.mean ?? 0), stddev: Number(r.sd ?? 0) }]));
  }

  /** Deny and escalation counts over each agent's latest `recent` completed runs since `from`, and over the older ones. */
  async rates(uow: UnitOfWork, agents: readonly string[], from: Date, recent: number): Promise<RateRow[]> {
    if (agents.length === 0) return [];
    const rows = await uow.query<Record<string, string>>(
      `WITH ranked AS (
         SELECT agent_id, denied, escalated, row_number() OVER (PARTITION BY agent_id ORDER BY completed_at DESC, run_id DESC) AS rn
         FROM ${uow.table('run_profiles')} WHERE agent_id = ANY($1) AND completed_at >= $2
       )
       SELECT agent_id,
              count(*) FILTER (WHERE rn <= $3) AS recent_runs, count(*) FILTER (WHERE rn <= $3 AND denied) AS recent_denied, count(*) FILTER (WHERE rn <= $3 AND escalated) AS recent_escalated,
              count(*) FILTER (WHERE rn > $3) AS base_runs, count(*) FILTER (WHERE rn > $3 AND denied) AS base_denied, count(*) FILTER (WHERE rn > $3 AND escalated) AS base_escalated
       FROM ranked GROUP BY agent_id`,
      [agents, from.toISOString(), recent],
    );
    return rows.map((r) => ({
      agent_id: r['agent_id'],
      recent: { runs: Number(r['recent_runs']), hits: Number(r['recent_denied']), escalated: Number(r['recent_escalated']) },
      baseline: { runs: Number(r['base_runs']), hits: Number(r['base_denied']), escalated: Number(r['base_escalated']) },
    }));
  }

  /**
   * Records the candidates as raised and returns those that are new: a candidate whose agent, kind
   * and subject were raised within the window and not acknowledged since is not raised again.
   */
  async raise(uow: UnitOfWork, candidates: readonly AlertCandidate[], windowStart: Date): Promise<Set<string>> {
    if (candidates.length === 0) return new Set();
    const rows = await uow.query<{ agent_id: string; kind: string; subject: string }>(
      `INSERT INTO ${uow.table('behaviour_alerts')} AS a (agent_id, kind, subject, run_id, observed, expected, raised_at, acknowledged_at, acknowledged_by)
       SELECT agent_id, kind, subject, run_id, observed, expected, raised_at, NULL, NULL
       FROM jsonb_to_recordset($1::jsonb) AS v(agent_id varchar, kind varchar, subject varchar, run_id varchar, observed double precision, expected double precision, raised_at timestamptz)
       ON CONFLICT (agent_id, kind, subject) DO UPDATE SET run_id = EXCLUDED.run_id, observed = EXCLUDED.observed, expected = EXCLUDED.expected,
         raised_at = EXCLUDED.raised_at, acknowledged_at = NULL, acknowledged_by = NULL
       WHERE a.acknowledged_at IS NOT NULL OR a.raised_at < $2
       RETURNING a.agent_id, a.kind, a.subject`,
      [JSON.stringify(candidates), windowStart.toISOString()],
    );
    return new Set(rows.map((r) => alertKey(r)));
  }

  /** Acknowledges an agent's alert; false when there is no such alert. */
  async acknowledge(agentId: string, kind: string, subject: string, by: string): Promise<{ runId: string; raisedAt: Date } | null> {
    const rows = await queryRows<{ run_id: string; raised_at: Date }>(
      this.dataSource,
      `UPDATE ${t('behaviour_alerts')} SET acknowledged_at = now(), acknowledged_by = $4 WHERE agent_id = $1 AND kind = $2 AND subject = $3 RETURNING run_id, raised_at`,
      [agentId, kind, subject, by],
    );
    return rows[0] ? { runId: rows[0].run_id, raisedAt: rows[0].raised_at } : null;
  }

  /** An agent's baseline as the API shows it. */
  async baselineOf(agentId: string, from: Date, recent: number) {
    const q = <R>(sql: string, params: unknown[]) => queryRows<R>(this.dataSource, sql, params);
    const fromDay = from.toISOString().slice(0, 10);
    const [usage, runs, rates, alerts] = await Promise.all([
      q<{ dimension: string; subject: string; calls: string; last_seen_at: Date }>(
        `SELECT dimension, subject, sum(calls) AS calls, max(last_seen_at) AS last_seen_at FROM ${t('agent_usage')} WHERE agent_id = $1 AND day >= $2::date GROUP BY dimension, subject ORDER BY sum(calls) DESC, subject`,
        [agentId, fromDay],
      ),
      q<{ n: string; mean: string | null; sd: string | null; denied: string; escalated: string }>(
        `SELECT count(*) AS n, avg(cost_tokens) AS mean, stddev_samp(cost_tokens) AS sd, count(*) FILTER (WHERE denied) AS denied, count(*) FILTER (WHERE escalated) AS escalated
         FROM ${t('run_profiles')} WHERE agent_id = $1 AND completed_at >= $2`,
        [agentId, from.toISOString()],
      ),
      q<{ n: string; denied: string; escalated: string }>(
        `SELECT count(*) AS n, count(*) FILTER (WHERE denied) AS denied, count(*) FILTER (WHERE escalated) AS escalated
         FROM (SELECT denied, escalated FROM ${t('run_profiles')} WHERE agent_id = $1 AND completed_at >= $2 ORDER BY completed_at DESC, run_id DESC LIMIT $3) AS r`,
        [agentId, from.toISOString(), recent],
      ),
      q<{ kind: string; subject: string; run_id: string; observed: number; expected: number; raised_at: Date; acknowledged_at: Date | null; acknowledged_by: string | null }>(
        `SELECT kind, subject, run_id, observed, expected, raised_at, acknowledged_at, acknowledged_by FROM ${t('behaviour_alerts')} WHERE agent_id = $1 ORDER BY raised_at DESC LIMIT 100`,
        [agentId],
      ),
    ]);
    return { usage, runs: runs[0], recent: rates[0], alerts };
  }

  /** A workflow's completed cases since `from`: counts by outcome, cycle times, overrides and escalations. */
  async workflowKpis(workflowId: string, from: Date, to: Date) {
    const q = <R>(sql: string, params: unknown[]) => queryRows<R>(this.dataSource, sql, params);
    const where = `workflow_id = $1 AND completed_at >= $2 AND completed_at <= $3`;
    const params = [workflowId, from.toISOString(), to.toISOString()];
    const [totals, outcomes] = await Promise.all([
      q<{ cases: string; overridden: string; escalated: string; mean: number | null; p50: number | null; p90: number | null; max: number | null }>(
        `SELECT count(*) AS cases, count(*) FILTER (WHERE overridden) AS overridden, count(*) FILTER (WHERE escalated) AS escalated,
                avg(c) AS mean, percentile_cont(0.5) WITHIN GROUP (ORDER BY c) AS p50, percentile_cont(0.9) WITHIN GROUP (ORDER BY c) AS p90, max(c) AS max
         FROM (SELECT overridden, escalated, EXTRACT(EPOCH FROM completed_at - COALESCE(started_at, first_seen_at))::float8 AS c FROM ${t('run_profiles')} WHERE ${where}) AS cases`,
        params,
      ),
      q<{ outcome: string; n: string }>(`SELECT outcome, count(*) AS n FROM ${t('run_profiles')} WHERE ${where} GROUP BY outcome ORDER BY outcome`, params),
    ]);
    return { totals: totals[0], outcomes };
  }
}

export const usageKey = (e: { agent_id: string; dimension: string; subject: string }) => `${e.agent_id}\u0000${e.dimension}\u0000${e.subject}`;
export const alertKey = (e: { agent_id: string; kind: string; subject: string }) => `${e.agent_id}\u0000${e.kind}\u0000${e.subject}`;
