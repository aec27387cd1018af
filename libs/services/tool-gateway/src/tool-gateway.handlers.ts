import type { KeyObject } from 'node:crypto';
import { isDeepStrictEqual } from 'node:util';
import { Inject, Injectable, Logger, Optional, type OnModuleInit } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import type { DataSource } from 'typeorm';
import { checkGrant, checkVerificationRead, signVerificationAnswer } from '@govmesh/action-grants';
import { EventTypes, type GovmeshEvent, type Reason, type RecordClaim } from '@govmesh/contracts';
import {
  HandlesEvents,
  PerformsEffects,
  type BatchEventHandler,
  type ClaimedEffect,
  type Consumed,
  type EffectOutcome,
  type EffectPerformer,
  type PerformContext,
  type UnitOfWork,
} from '@govmesh/messaging';
import { ENDPOINT_DEPS, ServiceKeys, type ServiceEndpointDeps } from '@govmesh/nest-runtime';
import { endSpan, errorTypeOf, GovmeshAttributes, SemconvAttributes, startGovmeshSpan, traceparentOfSpan, withTraceparent } from '@govmesh/observability';
import { TOOL_GATEWAY_SERVICE } from './database';
import { SandboxAccount } from './entities';
import { BREAKER_STATE_VALUE, CircuitBreakers, MEDIATION_SETTINGS, mediationSettings, RateLimiter, type MediationSettings, type RateLimit, type RateRefusal } from './mediation';
import { DEMO_ACCOUNTS, newExecutionId, seedSandboxSystems, ToolCatalog, type ToolResult } from './tools';
import { delay, type ToolDefinition } from './tool-definition';
import { VERIFIER_PRINCIPAL } from './registry/built-in-tools';
import { ToolGrantsService } from './registry/tool-grants.service';
import { ToolRegistry } from './registry/tool-registry.service';

/** What a reserved tool call carries to its performer. */
interface ToolCallPayload extends Record<string, unknown> {
  executionId: string;
  agentId: string;
  agentVersion: string;
  runId: string;
  stepId: string;
  tool: string;
  arguments: Record<string, unknown>;
  /** The request that asked for the call: its id and trace, so the result continues its causation chain. */
  causeId: string;
  traceparent?: string;
  /** A read for the verifier: answered with `verification.readcompleted`, not `tool.executed`. */
  verification?: { verificationId: string; check: number };
  /** Nothing is called: the performer answers the would-have-done record. */
  dryRun?: true;
}

interface ExecutionRow {
  id: string;
  run_id: string;
  step_id: string;
  tool: string;
  agent_id?: string | null;
  grant_id: string | null;
  /** The request's idempotency key; null for refusals and for requests without one. */
  idempotency_key: string | null;
  arguments: Record<string, unknown>;
  status: 'in_progress' | 'succeeded' | 'failed' | 'rejected' | 'dry_run';
  /** Checked and granted like any call, answered with a would-have-done record; nothing called. */
  dry_run: boolean;
  output: Record<string, unknown> | null;
  claim: RecordClaim | null;
  reasons: Reason[];
}

export const TOOL_EFFECT = 'tool_call';

/** Reserves accepted calls as effects, performed after commit by ToolCallPerformer. */
async function reserveCalls(
  uow: UnitOfWork,
  calls: ReadonlyArray<{ event: GovmeshEvent; row: ExecutionRow; agentVersion: string; verification?: ToolCallPayload['verification'] }>,
  timeoutOf: (tool: string) => number,
): Promise<void> {
  await uow.reserveEffects(
    calls.map(({ event, row, agentVersion, verification }) => ({
      // The caller's key when it sent one (a resumed run repeats no side effect), else the single-use grant's.
      key: `tool:${row.idempotency_key ?? row.grant_id}`,
      kind: TOOL_EFFECT,
      runId: row.run_id,
      timeoutMs: timeoutOf(row.tool),
      payload: {
        executionId: row.id,
        agentId: row.agent_id ?? '',
        agentVersion,
        runId: row.run_id,
        stepId: row.step_id,
        tool: row.tool,
        arguments: row.arguments,
        causeId: event.id,
        // The span of the request's handling here: the call's execute_tool span is its child.
        ...(uow.traceparentOf(event) ? { traceparent: uow.traceparentOf(event) } : {}),
        ...(verification ? { verification } : {}),
        ...(row.dry_run ? { dryRun: true as const } : {}),
      } satisfies ToolCallPayload,
    })),
  );
}

/** All SQL of the gateway's executions ledger. */
@Injectable()
export class ExecutionsRepository implements OnModuleInit {
  constructor(
    @InjectDataSource(TOOL_GATEWAY_SERVICE) private readonly dataSource: DataSource,
    @Inject(ENDPOINT_DEPS) private readonly deps: ServiceEndpointDeps,
  ) {}

  async onModuleInit(): Promise<void> {
    if (this.deps.config.seedDemoData) {
      await this.dataSource.createQueryBuilder().insert().into(SandboxAccount).values(DEMO_ACCOUNTS).orIgnore().execute();
      await seedSandboxSystems(this.dataSource);
    }
  }

  /**
   * Inserts executions; those whose grant was used already are not inserted (the grant id is
   * unique), and their ids are missing from the answer.
   */
  async insert(uow: UnitOfWork, rows: readonly ExecutionRow[]): Promise<Set<string>> {
    const inserted = await uow.insertMany('executions', rows as unknown as Array<Record<string, unknown>>, { onConflictDoNothing: true, returning: 'id' });
    return new Set(inserted.map((r) => r['id'] as string));
  }

  async executionOfGrant(uow: UnitOfWork, grantIds: readonly string[]): Promise<Map<string, string>> {
    const rows = await uow.query<{ id: string; grant_id: string }>(`SELECT id, grant_id FROM ${uow.table('executions')} WHERE grant_id = ANY($1)`, [grantIds]);
    return new Map(rows.map((r) => [r.grant_id, r.id]));
  }

  /** The executions holding these idempotency keys, by key. */
  async byIdempotencyKey(uow: UnitOfWork, keys: readonly string[]): Promise<Map<string, ExecutionRow>> {
    if (keys.length === 0) return new Map();
    const rows = await uow.query<ExecutionRow>(
      `SELECT id, run_id, step_id, tool, grant_id, idempotency_key, arguments, status, output, claim, reasons FROM ${uow.table('executions')} WHERE idempotency_key = ANY($1)`,
      [[...new Set(keys)]],
    );
    return new Map(rows.flatMap((r) => (r.idempotency_key ? [[r.idempotency_key, r] as const] : [])));
  }

  /** Frees the keys of failed or refused executions, for a retry under the same key (the old rows stay, without key). */
  async releaseKeys(uow: UnitOfWork, keys: readonly string[]): Promise<void> {
    if (keys.length === 0) return;
    await uow.query(`UPDATE ${uow.table('executions')} SET idempotency_key = NULL WHERE idempotency_key = ANY($1) AND status IN ('failed', 'rejected')`, [keys]);
  }

  async complete(uow: UnitOfWork, rows: ReadonlyArray<Pick<ExecutionRow, 'id' | 'status' | 'output' | 'claim' | 'reasons'>>): Promise<void> {
    await uow.updateMany('executions', rows as unknown as Array<Record<string, unknown>>);
  }

  /** Counts calls per agent and tool for the connection map (one statement per batch). */
  async countUsage(uow: UnitOfWork, calls: ReadonlyArray<{ agentId: string; tool: string; status: string }>): Promise<void> {
    if (calls.length === 0) return;
    const byKey = new Map<string, { agentId: string; tool: string; calls: number; succeeded: number; refused: number }>();
    for (const c of calls) {
      const key = `${c.agentId}\u0000${c.tool}`;
      const entry = byKey.get(key) ?? { agentId: c.agentId, tool: c.tool, calls: 0, succeeded: 0, refused: 0 };
      entry.calls++;
      if (c.status === 'succeeded') entry.succeeded++;
      if (c.status === 'rejected') entry.refused++;
      byKey.set(key, entry);
    }
    const e = [...byKey.values()].sort((a, b) => (a.agentId + a.tool < b.agentId + b.tool ? -1 : 1));
    await uow.query(
      `INSERT INTO ${uow.table('tool_usage')} (agent_id, tool, calls, succeeded, refused, last_used_at)
       SELECT * FROM unnest($1::text[], $2::text[], $3::bigint[], $4::bigint[], $5::bigint[]) AS u(agent_id, tool, calls, succeeded, refused), LATERAL (SELECT now() AS last_used_at) n
       ON CONFLICT (agent_id, tool) DO UPDATE SET calls = ${uow.table('tool_usage')}.calls + EXCLUDED.calls, succeeded = ${uow.table('tool_usage')}.succeeded + EXCLUDED.succeeded,
         refused = ${uow.table('tool_usage')}.refused + EXCLUDED.refused, last_used_at = EXCLUDED.last_used_at`,
      [e.map((x) => x.agentId), e.map((x) => x.tool), e.map((x) => x.calls), e.map((x) => x.succeeded), e.map((x) => x.refused)],
    );
  }

  /** Agents' states as the registry last said, by agent id. */
  async agentStates(uow: UnitOfWork | undefined, agentIds: readonly string[]): Promise<Map<string, AgentState>> {
    const sql = `SELECT agent_id, status, revoked_versions FROM "tool_gateway"."agent_states" WHERE agent_id = ANY($1)`;
    const params = [[...new Set(agentIds)]];
    const rows: Array<{ agent_id: string; status: string; revoked_versions: string[] }> = uow ? await uow.query(sql, params) : await this.dataSource.query(sql, params);
    return new Map(rows.map((r) => [r.agent_id, { status: r.status, revokedVersions: r.revoked_versions }]));
  }

  async saveAgentStates(uow: UnitOfWork, states: ReadonlyArray<{ agentId: string; status: string; revokedVersions: string[]; changedAt: string }>): Promise<void> {
    for (const s of states) {
      await uow.query(
        `INSERT INTO ${uow.table('agent_states')} (agent_id, status, revoked_versions, changed_at) VALUES ($1, $2, $3, $4)
         ON CONFLICT (agent_id) DO UPDATE SET status = EXCLUDED.status, revoked_versions = EXCLUDED.revoked_versions, changed_at = EXCLUDED.changed_at
         WHERE ${uow.table('agent_states')}.changed_at <= EXCLUDED.changed_at`,
        [s.agentId, s.status, JSON.stringify(s.revokedVersions), s.changedAt],
      );
    }
  }
}

/**
 * A call's whole time limit: the tool's own (or the default) for each attempt, plus the attempts
 * and backoff waits of its retry policy, so that retries happen inside the one reserved call.
 */
export function timeoutOfTool(tool: ToolDefinition | undefined, defaultMs: number): number {
  const perAttempt = tool?.timeoutMs ?? defaultMs;
  const retry = tool?.idempotent ? tool.retry : undefined;
  if (!retry || retry.maxAttempts <= 1) return perAttempt;
  let waits = 0;
  for (let attempt = 1; attempt < retry.maxAttempts; attempt++) waits += backoffMs(retry, attempt);
  return perAttempt * retry.maxAttempts + waits;
}

/** The wait before attempt `attempt + 1`: doubled each time from `backoffMs`, at most `maxBackoffMs`. */
function backoffMs(retry: NonNullable<ToolDefinition['retry']>, attempt: number): number {
  return Math.min(retry.maxBackoffMs ?? 30_000, retry.backoffMs * 2 ** (attempt - 1));
}

export interface AgentState {
  status: string;
  revokedVersions: string[];
}

/** Why an agent may not act now, from what the registry said; null when it may. */
export function agentStateProblem(state: AgentState | undefined, agentId: string, agentVersion: string): Reason | null {
  if (!state) return null;
  if (state.status !== 'active') return { code: 'agent_not_active', message: `agent "${agentId}" is ${state.status}; its outstanding grants no longer work` };
  if (state.revokedVersions.includes(agentVersion)) return { code: 'grant_revoked', message: `the key of agent "${agentId}" version ${agentVersion} was revoked; its outstanding grants no longer work` };
  return null;
}

/**
 * Follows the registry: the gateway keeps each agent's status and revoked versions, so that
 * suspending an agent or revoking a key stops its outstanding grants at once.
 */
@Injectable()
@HandlesEvents(TOOL_GATEWAY_SERVICE, [EventTypes.AgentChanged])
export class AgentChangesHandler implements BatchEventHandler<typeof EventTypes.AgentChanged> {
  constructor(private readonly executions: ExecutionsRepository) {}

  async handle(batch: ReadonlyArray<Consumed<typeof EventTypes.AgentChanged>>, uow: UnitOfWork): Promise<void> {
    await this.executions.saveAgentStates(
      uow,
      batch.map(({ event }) => ({ agentId: event.data.agentId, status: event.data.agent.status, revokedVersions: event.data.agent.revokedVersions ?? [], changedAt: event.time })),
    );
  }
}

/**
 * Layer 5, first half: checks every tool request of a batch (tool known, grant valid for the
 * exact action, arguments fit the schema, grant unused) and reserves the accepted calls. Nothing
 * runs here: the calls are performed after commit, outside any transaction, by ToolCallPerformer.
 */
@Injectable()
@HandlesEvents(TOOL_GATEWAY_SERVICE, [EventTypes.ToolRequested])
export class ToolRequestsHandler implements BatchEventHandler<typeof EventTypes.ToolRequested>, OnModuleInit {
  private grantKey!: KeyObject;
  private readonly settings: MediationSettings;
  private readonly rateLimiter = new RateLimiter();

  constructor(
    private readonly catalog: ToolCatalog,
    private readonly executions: ExecutionsRepository,
    private readonly keys: ServiceKeys,
    private readonly registry: ToolRegistry,
    private readonly toolGrants: ToolGrantsService,
    @Inject(ENDPOINT_DEPS) private readonly deps: ServiceEndpointDeps,
    @Optional() @Inject(MEDIATION_SETTINGS) override?: Partial<MediationSettings>,
  ) {
    this.settings = mediationSettings(deps.config, override);
  }

  /** The gateway holds only policy's public key: it can check grants, never make one. */
  onModuleInit(): void {
    this.grantKey = this.keys.publicKey('grant');
  }

  async handle(batch: ReadonlyArray<Consumed<typeof EventTypes.ToolRequested>>, uow: UnitOfWork): Promise<void> {
    await this.registry.refreshIfStale(uow);
    const now = new Date();
    const states = await this.executions.agentStates(uow, batch.map((c) => c.event.data.agentId));
    // Requests under an idempotency key seen before are answered from its execution, not performed again.
    const previous = await this.executions.byIdempotencyKey(uow, batch.flatMap((c) => (c.event.data.idempotencyKey ? [c.event.data.idempotencyKey] : [])));
    const refused: Array<{ event: GovmeshEvent<typeof EventTypes.ToolRequested>; row: ExecutionRow }> = [];
    const accepted: Array<{ event: GovmeshEvent<typeof EventTypes.ToolRequested>; row: ExecutionRow }> = [];
    const replayed: Array<{ event: GovmeshEvent<typeof EventTypes.ToolRequested>; done: ExecutionRow }> = [];
    const released: string[] = [];
    /** Keys accepted in this batch: a second request under one of them waits for the first's result. */
    const taken = new Set<string>();
    let duplicates = 0;
    for (const { event } of batch) {
      const r = event.data;
      const dryRun = r.dryRun === true;
      // A dry run neither takes an idempotency key nor is answered from one: it must not stand in for the real call.
      const key = dryRun ? undefined : r.idempotencyKey;
      const row: ExecutionRow = { id: newExecutionId(), run_id: r.runId, step_id: r.stepId, tool: r.tool, agent_id: r.agentId, grant_id: null, idempotency_key: null, arguments: r.arguments, status: 'rejected', dry_run: dryRun, output: null, claim: null, reasons: [] };
      const before = key ? previous.get(key) : undefined;
      const live = before && (before.status === 'succeeded' || before.status === 'in_progress');
      if (live && !(before.run_id === r.runId && before.tool === r.tool && isDeepStrictEqual(before.arguments, r.arguments))) {
        // A key names one action: reusing it for another would answer with the wrong result.
        refused.push({ event, row: { ...row, reasons: [{ code: 'idempotency_key_reused', message: `idempotency key ${key} belongs to execution ${before.id} of ${before.tool} with other arguments or on another run` }] } });
        continue;
      }
      if (before?.status === 'succeeded') {
        // Nothing is performed, so no grant is needed: the same run asks again for the same action
        // (a resumed run, a redelivered command) and gets the result it was given.
        replayed.push({ event, done: before });
        continue;
      }
      if (before?.status === 'in_progress' || (key && taken.has(key))) {
        // Performed once already in flight: its result answers the step.
        duplicates++;
        continue;
      }
      const tool = this.catalog.find(r.tool);
      const problem: Reason | null = !tool
        ? { code: 'tool_not_registered', message: `tool "${r.tool}" is not in the catalog` }
        : (checkGrant(this.grantKey, r.grant, { runId: r.runId, stepId: r.actionStepId ?? r.stepId, agentId: r.agentId, agentVersion: r.agentVersion ?? '', tool: r.tool, arguments: r.arguments }, now) ??
          agentStateProblem(states.get(r.agentId), r.agentId, r.grant.agentVersion) ??
          this.catalog.checkArguments(r.tool, r.arguments));
      if (problem) {
        row.reasons = [problem];
        refused.push({ event, row });
      } else {
        if (key) {
          taken.add(key);
          // The execution under this key failed or was refused: this request retries it under the same key.
          if (before) released.push(key);
        }
        accepted.push({ event, row: { ...row, grant_id: r.grant.grantId, idempotency_key: key ?? null, status: 'in_progress' } });
      }
    }
    // Least privilege: policy's signature is not enough, the tool must be granted to the agent's
    // version, and the arguments must fit the grant's constraints.
    if (accepted.length > 0) {
      const problems = await this.toolGrants.check(uow, accepted.map(({ event }) => ({ agentId: event.data.agentId, agentVersion: event.data.grant.agentVersion, tool: event.data.tool, arguments: event.data.arguments })));
      const granted = accepted.filter((a, i) => {
        const problem = problems[i];
        if (!problem) return true;
        refused.push({ event: a.event, row: { ...a.row, grant_id: null, idempotency_key: null, status: 'rejected', reasons: [problem] } });
        if (a.row.idempotency_key) taken.delete(a.row.idempotency_key);
        return false;
      });
      accepted.splice(0, accepted.length, ...granted);
    }
    // Rate limits last, so that only calls about to be reserved draw tokens (a refused, replayed or
    // duplicate request takes none, nor does a dry run, which calls nothing). A limited call fails
    // retryable: the workflow tries it again later.
    const limited: Array<{ event: GovmeshEvent<typeof EventTypes.ToolRequested>; row: ExecutionRow; refusal: RateRefusal }> = [];
    const drawing = accepted.filter((a) => !a.row.dry_run);
    if (drawing.length > 0) {
      const refusals = await this.rateLimiter.take(
        uow,
        drawing.map(({ event }) => ({ agentId: event.data.agentId, tool: event.data.tool, agentLimit: this.settings.agentRateLimit, toolLimit: this.toolLimit(event.data.tool) })),
      );
      const refusalOf = new Map(drawing.map((a, i) => [a, refusals[i]] as const));
      const within = accepted.filter((a) => {
        const refusal = refusalOf.get(a);
        if (!refusal) return true;
        const whose = refusal.scope === 'agent' ? `agent "${a.event.data.agentId}"` : `tool ${a.row.tool}`;
        limited.push({
          event: a.event,
          refusal,
          row: { ...a.row, grant_id: null, idempotency_key: null, status: 'failed', reasons: [{ code: 'rate_limited', message: `the rate limit of ${whose} is reached; nothing was performed, retry in about ${Math.ceil(refusal.retryAfterMs / 1000)} s` }] },
        });
        return false;
      });
      accepted.splice(0, accepted.length, ...within);
    }
    await this.executions.releaseKeys(uow, released);
    // A grant is single-use: its id is unique among executions, so a second use inserts nothing.
    const inserted = await this.executions.insert(uow, accepted.map((a) => a.row));
    const notInserted = accepted.filter((a) => !inserted.has(a.row.id));
    if (notInserted.length > 0) {
      const usedBy = await this.executions.executionOfGrant(uow, notInserted.map((a) => a.row.grant_id!));
      for (const a of notInserted) {
        const grantId = a.row.grant_id!;
        // Not the grant: the idempotency key was taken meanwhile, by an execution whose result answers.
        if (!usedBy.has(grantId)) {
          duplicates++;
          continue;
        }
        refused.push({ event: a.event, row: { ...a.row, grant_id: null, idempotency_key: null, status: 'rejected', reasons: [{ code: 'grant_already_used', message: `grant ${grantId} was used by execution ${usedBy.get(grantId)}; grants are single-use` }] } });
      }
    }
    await this.executions.insert(uow, [...refused, ...limited].map((r) => r.row));
    await this.executions.countUsage(uow, [...refused, ...limited].map(({ event, row }) => ({ agentId: event.data.agentId, tool: row.tool, status: row.status })));
    for (const { event, row } of limited) {
      uow.emit(EventTypes.ToolExecuted, { runId: row.run_id, stepId: row.step_id, tool: row.tool, executionId: row.id, status: 'failed', reasons: row.reasons, retryable: true }, { cause: event });
    }
    for (const { event, row } of refused) {
      uow.emit(EventTypes.ToolExecuted, { runId: row.run_id, stepId: row.step_id, tool: row.tool, executionId: row.id, status: 'rejected', reasons: row.reasons }, { cause: event });
    }
    for (const { event, done } of replayed) {
      uow.emit(
        EventTypes.ToolExecuted,
        {
          runId: event.data.runId,
          stepId: event.data.stepId,
          tool: done.tool,
          executionId: done.id,
          status: done.status as 'succeeded',
          ...(done.output ? { output: done.output } : {}),
          ...(done.claim ? { claim: done.claim } : {}),
          reasons: [...done.reasons, { code: 'idempotent_replay', message: `idempotency key ${done.idempotency_key} was performed by execution ${done.id}; answered with its result, not performed again` }],
        },
        { cause: event },
      );
    }
    await reserveCalls(
      uow,
      accepted.filter((a) => inserted.has(a.row.id)).map(({ event, row }) => ({ event, row, agentVersion: event.data.grant.agentVersion })),
      (tool) => this.timeoutOf(tool),
    );
    const { metrics } = this.deps;
    uow.afterCommit(() => {
      for (const { row } of refused) {
        metrics.toolExecutions.inc({ service: TOOL_GATEWAY_SERVICE, tool: row.tool, status: 'rejected' });
        metrics.toolCallsRefused.inc({ service: TOOL_GATEWAY_SERVICE, tool: this.catalog.find(row.tool) ? row.tool : 'unknown', reason: row.reasons[0]?.code ?? 'unknown' });
      }
      for (const { row, refusal } of limited) {
        metrics.toolExecutions.inc({ service: TOOL_GATEWAY_SERVICE, tool: row.tool, status: 'failed' });
        metrics.toolRateLimited.inc({ service: TOOL_GATEWAY_SERVICE, tool: row.tool, scope: refusal.scope });
      }
      for (const { done } of replayed) metrics.toolExecutions.inc({ service: TOOL_GATEWAY_SERVICE, tool: done.tool, status: 'replayed' });
      if (duplicates > 0) metrics.toolExecutions.inc({ service: TOOL_GATEWAY_SERVICE, tool: 'any', status: 'duplicate' }, duplicates);
    });
  }

  /** The call's time limit, retries and their waits included: the tool's own, else the gateway's default. */
  private timeoutOf(name: string): number {
    const tool = this.catalog.find(name);
    return timeoutOfTool(tool, this.deps.config.toolTimeoutMs);
  }

  /** The tool's bucket: the settings' override, else the tool's own limit. */
  private toolLimit(name: string): RateLimit | null {
    return name in this.settings.toolRateLimits ? this.settings.toolRateLimits[name] : (this.catalog.find(name)?.rateLimit ?? null);
  }
}

/** A dry run's answer: what the call would have done, checked like any call, nothing performed. */
async function wouldHaveDone(tool: ToolDefinition, args: Record<string, unknown>): Promise<ToolResult> {
  const manifest = tool.manifest;
  const call = tool.preview ? await tool.preview(args) : {};
  const refusal = call['wouldBeRefused'] as Reason | undefined;
  return {
    status: 'dry_run',
    output: {
      dryRun: true,
      tool: tool.name,
      ...(manifest ? { version: manifest.version } : {}),
      sideEffect: tool.sideEffect,
      connection: tool.connection ?? null,
      call,
    },
    reasons: [
      { code: 'dry_run', message: `${tool.name} passed every check and was not called` },
      ...(refusal ? [{ code: 'dry_run_would_be_refused', message: `the call would be refused: ${refusal.code}: ${refusal.message}`.slice(0, 500) }] : []),
    ],
  };
}

/**
 * Layer 5, second half: performs reserved tool calls outside any transaction, with the
 * idempotency key and a timeout, then records each result and its `tool.executed` event in one
 * transaction. A call found in flight after a crash is made again only for a tool whose system
 * deduplicates by key; otherwise it ends with `outcome_unknown` for a human to reconcile.
 */
@Injectable()
@PerformsEffects(TOOL_GATEWAY_SERVICE)
export class ToolCallPerformer implements EffectPerformer<ToolCallPayload, ToolResult>, OnModuleInit {
  readonly kind = TOOL_EFFECT;
  readonly repeatable = true;
  /** One breaker per connection, in this process (see CircuitBreaker). */
  readonly breakers: CircuitBreakers;
  private answerKey!: KeyObject;
  /** The execute_tool span of each call performed here, named by the event that records its result. */
  private readonly callSpans = new WeakMap<ClaimedEffect<ToolCallPayload>, string>();

  constructor(
    private readonly keys: ServiceKeys,
    private readonly catalog: ToolCatalog,
    private readonly executions: ExecutionsRepository,
    @InjectDataSource(TOOL_GATEWAY_SERVICE) private readonly dataSource: DataSource,
    @Inject(ENDPOINT_DEPS) private readonly deps: ServiceEndpointDeps,
    @Optional() @Inject(MEDIATION_SETTINGS) override?: Partial<MediationSettings>,
  ) {
    const { metrics } = deps;
    this.breakers = new CircuitBreakers(mediationSettings(deps.config, override).breaker, Date.now, (connection, to) => {
      metrics.toolBreakerState.set({ service: TOOL_GATEWAY_SERVICE, connection }, BREAKER_STATE_VALUE[to]);
      metrics.toolBreakerTransitions.inc({ service: TOOL_GATEWAY_SERVICE, connection, to });
    });
  }

  /** The gateway signs its answers to the verifier's reads: a distributed gateway without the key does not start. */
  onModuleInit(): void {
    this.answerKey = this.keys.signingKey('gateway');
  }

  /**
   * Performs one call inside an `execute_tool {tool}` span (the GenAI conventions' tool span), a
   * child of the span that accepted the request. It says which tool, which execution, for which
   * run and step, and how it ended: never the arguments, the output or the connection's secret.
   */
  async perform(effect: ClaimedEffect<ToolCallPayload>, ctx: PerformContext): Promise<ToolResult> {
    const call = effect.payload;
    const { span, parent } = startGovmeshSpan(`execute_tool ${call.tool}`, {
      parent: call.traceparent,
      attributes: {
        [SemconvAttributes.genAiOperation]: 'execute_tool',
        [SemconvAttributes.genAiToolName]: call.tool,
        [SemconvAttributes.genAiToolCallId]: call.executionId,
        // Executed by the gateway against an outside system, not by the model's client.
        [SemconvAttributes.genAiToolType]: 'extension',
        'gen_ai.agent.id': call.agentId,
        [GovmeshAttributes.service]: TOOL_GATEWAY_SERVICE,
        [GovmeshAttributes.runId]: call.runId,
        [GovmeshAttributes.stepId]: call.stepId,
        ...(call.dryRun ? { [GovmeshAttributes.toolDryRun]: true } : {}),
      },
    });
    const traceparent = traceparentOfSpan(span, parent);
    if (traceparent) this.callSpans.set(effect, traceparent);
    try {
      const result = await this.performCall(effect, ctx);
      span.setAttribute(GovmeshAttributes.toolStatus, result.status);
      const failed = ctx.signal.aborted ? 'tool_timed_out' : result.status === 'failed' || result.status === 'rejected' ? (result.reasons[0]?.code ?? '_OTHER') : undefined;
      endSpan(span, { errorType: failed });
      return result;
    } catch (err) {
      endSpan(span, { errorType: errorTypeOf(err) });
      throw err;
    }
  }

  private async performCall(effect: ClaimedEffect<ToolCallPayload>, ctx: PerformContext): Promise<ToolResult> {
    const started = process.hrtime.bigint();
    const call = effect.payload;
    const done = (result: ToolResult, outcome: string = result.status): ToolResult => {
      this.deps.metrics.toolCallDuration.observe({ service: TOOL_GATEWAY_SERVICE, tool: call.tool, outcome }, Number(process.hrtime.bigint() - started) / 1e9);
      return result;
    };
    const tool = this.catalog.find(call.tool);
    if (!tool) return done({ status: 'failed', reasons: [{ code: 'tool_not_registered', message: `tool "${call.tool}" is no longer in the catalog` }] });
    // Suspension or revocation applies up to the last moment before the call, not only at request time.
    const stopped = agentStateProblem((await this.executions.agentStates(undefined, [call.agentId])).get(call.agentId), call.agentId, call.agentVersion);
    if (stopped) return done({ status: 'rejected', reasons: [stopped] });
    if (call.dryRun) return done(await wouldHaveDone(tool, call.arguments));
    if (ctx.attempt > 1 && !tool.idempotent) {
      return done({ status: 'failed', reasons: [{ code: 'outcome_unknown', message: `${call.tool} was in flight when the gateway stopped and cannot be repeated safely; reconcile with the system before retrying` }] });
    }
    const connection = tool.connection ?? tool.name;
    const breaker = this.breakers.for(connection);
    const permit = breaker.allow();
    this.deps.metrics.toolBreakerState.set({ service: TOOL_GATEWAY_SERVICE, connection }, BREAKER_STATE_VALUE[breaker.state]);
    if (!permit) {
      const wait = Math.max(1, Math.ceil(breaker.retryAfterMs() / 1000));
      return done(
        { status: 'failed', retryable: true, reasons: [{ code: 'circuit_open', message: `the circuit breaker of ${connection} is open after repeated failures; ${call.tool} was not called, retry in about ${wait} s` }] },
        'circuit_open',
      );
    }
    let result = await this.attempt(tool, call, ctx, permit, done);
    // Retries of retryable failures, inside this one call, only for a tool that is safe to repeat
    // (idempotent, or deduplicating by the call's key) and while its breaker lets calls through.
    const retry = tool.idempotent ? tool.retry : undefined;
    for (let attempt = 1; retry && attempt < retry.maxAttempts && result.status === 'failed' && result.retryable && !ctx.signal.aborted; attempt++) {
      this.deps.metrics.toolRetries.inc({ service: TOOL_GATEWAY_SERVICE, tool: call.tool, reason: result.reasons[0]?.code ?? 'unknown' });
      try {
        await delay(Math.round(backoffMs(retry, attempt) * (0.5 + Math.random() / 2)), ctx.signal);
      } catch {
        break;
      }
      const next = breaker.allow();
      if (!next) break;
      result = await this.attempt(tool, call, ctx, next, done);
    }
    if (ctx.signal.aborted) return done(result, 'timed_out');
    if (result.status === 'succeeded') {
      const invalid = this.catalog.checkOutput(call.tool, result.output);
      if (invalid) {
        const acted = tool.sideEffect === 'read' ? '' : '; the call reached the system and may have acted: reconcile before retrying';
        return done({ status: 'failed', reasons: [{ code: invalid.code, message: `${invalid.message}${acted}`.slice(0, 2000) }] }, 'output_invalid');
      }
    }
    return done(result);
  }

  /** One attempt through the connection's breaker: a timeout or a retryable failure counts against it. */
  private async attempt(tool: ToolDefinition, call: ToolCallPayload, ctx: PerformContext, permit: NonNullable<ReturnType<ReturnType<CircuitBreakers['for']>['allow']>>, done: (result: ToolResult, outcome?: string) => ToolResult): Promise<ToolResult> {
    // A timeout counts against the connection when it happens, whether or not the tool heeds the abort.
    const timedOut = () => permit.failed();
    ctx.signal.addEventListener('abort', timedOut, { once: true });
    let result: ToolResult;
    try {
      result = await tool.execute(this.dataSource, call.arguments, { runId: call.runId, executionId: call.executionId, idempotencyKey: ctx.key, signal: ctx.signal, latencyMs: this.deps.config.sandboxLatencyMs });
    } catch (err) {
      permit.failed();
      done({ status: 'failed', reasons: [] }, ctx.signal.aborted ? 'timed_out' : 'error');
      throw err;
    } finally {
      ctx.signal.removeEventListener('abort', timedOut);
    }
    // A retryable failure says the system is in trouble; any other answer, refusals included, says it works.
    if (result.status === 'failed' && result.retryable) permit.failed();
    else permit.succeeded();
    return result;
  }

  async record(results: ReadonlyArray<{ effect: ClaimedEffect<ToolCallPayload>; outcome: EffectOutcome<ToolResult> }>, uow: UnitOfWork): Promise<void> {
    const rows: Array<Pick<ExecutionRow, 'id' | 'status' | 'output' | 'claim' | 'reasons'>> = [];
    const statuses: Array<{ tool: string; status: string }> = [];
    const usage: Array<{ agentId: string; tool: string; status: string }> = [];
    for (const { effect, outcome } of results) {
      const call = effect.payload;
      const result: ToolResult = outcome.ok
        ? outcome.value
        : {
            status: 'failed',
            reasons: [{ code: outcome.code === 'failed' ? 'tool_error' : `tool_${outcome.code}`, message: outcome.message.slice(0, 2000) }],
            // A call that timed out or threw may be tried again only when the tool deduplicates by the idempotency key.
            ...(this.catalog.find(call.tool)?.idempotent ? { retryable: true } : {}),
          };
      const output = result.output ?? null;
      const claim: RecordClaim | undefined = result.claim;
      rows.push({ id: call.executionId, status: result.status, output, claim: claim ?? null, reasons: result.reasons });
      statuses.push({ tool: call.tool, status: result.status });
      usage.push({ agentId: call.agentId, tool: call.tool, status: result.status });
      const cause = { id: call.causeId, correlationid: call.runId, traceparent: call.traceparent } as GovmeshEvent;
      // The result names the call's execute_tool span as its parent (with tracing on).
      const callSpan = this.callSpans.get(effect);
      const verification = call.verification;
      if (verification) {
        if (result.status === 'dry_run') throw new Error('a verification read is never a dry run');
        withTraceparent(callSpan, () =>
          uow.emit(
            EventTypes.VerificationReadCompleted,
            signVerificationAnswer(this.answerKey, { runId: call.runId, verificationId: verification.verificationId, check: verification.check, tool: call.tool, executionId: call.executionId, status: result.status as Exclude<ToolResult['status'], 'dry_run'>, ...(output ? { output } : {}), reasons: result.reasons.slice(0, 20) }),
            { cause },
          ),
        );
        continue;
      }
      withTraceparent(callSpan, () =>
        uow.emit(
          EventTypes.ToolExecuted,
          { runId: call.runId, stepId: call.stepId, tool: call.tool, executionId: call.executionId, status: result.status, ...(output ? { output } : {}), ...(claim ? { claim } : {}), reasons: result.reasons, ...(result.status === 'failed' && result.retryable ? { retryable: true } : {}) },
          { cause },
        ),
      );
    }
    await this.executions.complete(uow, rows);
    await this.executions.countUsage(uow, usage);
    uow.afterCommit(() => {
      for (const s of statuses) this.deps.metrics.toolExecutions.inc({ service: TOOL_GATEWAY_SERVICE, ...s });
      for (const { effect, outcome } of results) {
        const v = effect.payload.verification;
        if (v) this.deps.metrics.verificationReads.inc({ service: TOOL_GATEWAY_SERVICE, tool: effect.payload.tool, status: outcome.ok ? outcome.value.status : 'failed' });
      }
    });
  }
}

/**
 * The verifier's reads: a read tool called for one check of one verification, under the
 * verifier's own identity. Executed only when signed by the verifier's key (the gateway holds its
 * public key), fresh, for a `read` tool granted to the verifier, with arguments that fit the
 * tool's schema; performed like any call (outside transactions, breaker, timeout), answered with
 * `govmesh.verification.readcompleted.v1`. Anything else is answered `rejected` with its reason.
 */
@Injectable()
@HandlesEvents(TOOL_GATEWAY_SERVICE, [EventTypes.VerificationReadRequested])
export class VerificationReadsHandler implements BatchEventHandler<typeof EventTypes.VerificationReadRequested>, OnModuleInit {
  private readonly logger = new Logger('tool-gateway');
  private verifierKey: KeyObject | null = null;
  private answerKey: KeyObject | null = null;

  constructor(
    private readonly catalog: ToolCatalog,
    private readonly executions: ExecutionsRepository,
    private readonly keys: ServiceKeys,
    private readonly registry: ToolRegistry,
    private readonly toolGrants: ToolGrantsService,
    @Inject(ENDPOINT_DEPS) private readonly deps: ServiceEndpointDeps,
  ) {}

  onModuleInit(): void {
    this.verifierKey = this.keys.publicKey('verifier');
    this.answerKey = this.keys.signingKey('gateway');
  }

  async handle(batch: ReadonlyArray<Consumed<typeof EventTypes.VerificationReadRequested>>, uow: UnitOfWork): Promise<void> {
    await this.registry.refreshIfStale(uow);
    const now = new Date();
    const refused: Array<{ event: GovmeshEvent<typeof EventTypes.VerificationReadRequested>; row: ExecutionRow }> = [];
    const candidates: Array<{ event: GovmeshEvent<typeof EventTypes.VerificationReadRequested>; row: ExecutionRow }> = [];
    for (const { event } of batch) {
      const r = event.data;
      const row: ExecutionRow = {
        id: newExecutionId(),
        run_id: r.runId,
        step_id: `verify:${r.verificationId.slice(0, 8)}#${r.check}`,
        tool: r.tool,
        agent_id: VERIFIER_PRINCIPAL,
        grant_id: null,
        idempotency_key: null,
        arguments: r.arguments,
        status: 'rejected',
        dry_run: false,
        output: null,
        claim: null,
        reasons: [],
      };
      const tool = this.catalog.find(r.tool);
      const problem: Reason | null =
        checkVerificationRead(this.verifierKey!, r, now) ??
        (!tool
          ? { code: 'tool_not_registered', message: `tool "${r.tool}" is not in the catalog` }
          : tool.sideEffect !== 'read'
            ? { code: 'not_a_read_tool', message: `${r.tool} is a ${tool.sideEffect} tool; the verifier reads with read tools only` }
            : this.catalog.checkArguments(r.tool, r.arguments));
      if (problem) refused.push({ event, row: { ...row, reasons: [problem] } });
      else candidates.push({ event, row: { ...row, status: 'in_progress', idempotency_key: `verify:${r.verificationId}:${r.check}` } });
    }
    const problems = await this.toolGrants.check(uow, candidates.map(({ event }) => ({ agentId: VERIFIER_PRINCIPAL, agentVersion: '*', tool: event.data.tool, arguments: event.data.arguments })));
    const accepted = candidates.filter((c, i) => {
      const problem = problems[i];
      if (problem) refused.push({ event: c.event, row: { ...c.row, status: 'rejected', idempotency_key: null, reasons: [problem] } });
      return !problem;
    });
    // A read asked twice (the same verification and check) is performed once: its key is unique.
    const inserted = await this.executions.insert(uow, accepted.map((a) => a.row));
    await this.executions.insert(uow, refused.map((r) => r.row));
    for (const { event, row } of refused) {
      const r = event.data;
      uow.emit(EventTypes.VerificationReadCompleted, signVerificationAnswer(this.answerKey!, { runId: r.runId, verificationId: r.verificationId, check: r.check, tool: r.tool, executionId: row.id, status: 'rejected' as const, reasons: row.reasons.slice(0, 20) }), { cause: event });
      this.logger.warn(`refused a verification read of ${r.tool} for run ${r.runId}: ${row.reasons[0]?.code}`);
    }
    await reserveCalls(
      uow,
      accepted.filter((a) => inserted.has(a.row.id)).map(({ event, row }) => ({ event, row, agentVersion: '*', verification: { verificationId: event.data.verificationId, check: event.data.check } })),
      (tool) => timeoutOfTool(this.catalog.find(tool), this.deps.config.toolTimeoutMs),
    );
    const { metrics } = this.deps;
    uow.afterCommit(() => {
      for (const { row } of refused) metrics.verificationReads.inc({ service: TOOL_GATEWAY_SERVICE, tool: this.catalog.find(row.tool) ? row.tool : 'unknown', status: 'rejected' });
    });
  }
}
