import { Inject, Injectable, Logger } from '@nestjs/common';
import { EventTypes, validateEventData, type BehaviourFlaggedV1, type EventType, type GovmeshEvent } from '@govmesh/contracts';
import { HandlesEvents, type BatchEventHandler, type Consumed, type UnitOfWork } from '@govmesh/messaging';
import { ENDPOINT_DEPS, type ServiceEndpointDeps } from '@govmesh/nest-runtime';
import { TELEMETRY_SERVICE } from '../database';
import { egressDestination, judgeCost, judgeRate, RATE_SIGMA } from './baseline-statistics';
import { alertKey, BaselineRepository, usageKey, type AlertCandidate, type MergedRun, type RunFacts, type UsageEntry } from './baseline.repository';

/** What telemetry reads for baselines and KPIs (it audits these and every other type in AuditHandler as well). */
export const BASELINE_EVENT_TYPES = [
  EventTypes.IntentSubmitted,
  EventTypes.IntentDecided,
  EventTypes.ActionDecided,
  EventTypes.ToolRequested,
  EventTypes.ModelCompleted,
  EventTypes.ApprovalRequested,
  EventTypes.ApprovalDecided,
  EventTypes.RunCompleted,
  EventTypes.ToolRegistered,
  EventTypes.ConnectionChanged,
] as const satisfies readonly EventType[];

/** A reviewer's decision that goes against what the agent proposed (retrying, accepting or approving does not). */
const OVERRIDING_DECISIONS = new Set(['rejected', 'edited', 'supplied', 'taken_over', 'aborted']);

const DAY_MS = 86_400_000;

/** The workflow an intent that names none runs (the orchestrator's default, `DEFAULT_WORKFLOW` of its workflow library). */
export const DEFAULT_WORKFLOW_ID = 'retrieve-plan-act-verify';

interface Flag {
  cause: GovmeshEvent;
  data: BehaviourFlaggedV1;
}

/**
 * Layer 7's behaviour baselines and workflow KPIs, kept in the batch's transaction: what each run
 * did (agent, workflow, model tokens, denies, escalations, overrides, how it ended), which tools
 * and egress destinations each agent used per day, and where each tool's calls go. Once an agent
 * has warmed up, a first-seen tool, an unseen destination, a cost outlier or a deny or escalation
 * rate far above its usual one emits `govmesh.behaviour.flagged.v1` through the outbox (keyed by
 * the run, so the audit ledger puts it on that run's timeline), once per agent, kind and subject
 * until acknowledged or the window passed.
 *
 * It shares every batch with the audit ledger, so it must never cost the ledger an event: all of
 * its work runs under a savepoint, and a failure rolls back only the baselines' part (logged).
 */
@Injectable()
@HandlesEvents(TELEMETRY_SERVICE, BASELINE_EVENT_TYPES)
export class BehaviourBaselineHandler implements BatchEventHandler {
  private readonly logger = new Logger('BehaviourBaselines');

  constructor(
    private readonly baselines: BaselineRepository,
    @Inject(ENDPOINT_DEPS) private readonly deps: ServiceEndpointDeps,
  ) {}

  async handle(batch: ReadonlyArray<Consumed>, uow: UnitOfWork): Promise<void> {
    await uow.query('SAVEPOINT behaviour_baselines');
    let flags: Flag[];
    let cases: MergedRun[];
    try {
      ({ flags, cases } = await this.track(batch, uow));
      await uow.query('RELEASE SAVEPOINT behaviour_baselines');
    } catch (err) {
      await uow.query('ROLLBACK TO SAVEPOINT behaviour_baselines');
      this.logger.error(`behaviour baselines skipped a batch of ${batch.length}: ${(err as Error).message}`);
      return;
    }
    // Emitted only once everything above stood, so a rolled-back part emits nothing.
    for (const flag of flags) uow.emit(EventTypes.BehaviourFlagged, flag.data, { cause: flag.cause });
    const { metrics } = this.deps;
    uow.afterCommit(() => {
      for (const { data } of flags) metrics.behaviourAnomalies.inc({ service: TELEMETRY_SERVICE, agent: data.agentId, kind: data.kind });
      for (const run of cases) {
        const workflow = run.workflow_id ?? 'unknown';
        if (run.escalated && !run.was_escalated) metrics.workflowEscalations.inc({ service: TELEMETRY_SERVICE, workflow });
        if (run.overridden && !run.was_overridden) metrics.workflowOverrides.inc({ service: TELEMETRY_SERVICE, workflow });
        if (run.completed_at && !run.was_completed) {
          metrics.workflowCases.inc({ service: TELEMETRY_SERVICE, workflow, outcome: run.outcome ?? 'unknown' });
          if (run.started_at) metrics.workflowCycleTime.observe({ service: TELEMETRY_SERVICE, workflow }, Math.max(0, (new Date(run.completed_at).getTime() - new Date(run.started_at).getTime()) / 1000));
        }
      }
    });
  }

  private async track(batch: ReadonlyArray<Consumed>, uow: UnitOfWork): Promise<{ flags: Flag[]; cases: MergedRun[] }> {
    const settings = this.deps.config.baseline;
    const now = new Date();
    const windowStart = new Date(now.getTime() - settings.windowDays * DAY_MS);

    // Registry first: a tool registered in this batch routes its calls in this batch too.
    const routes: Array<{ kind: 'tool' | 'connection'; id: string; destination: string | null; updated_at: string }> = [];
    for (const { event } of batch) {
      if (event.type === EventTypes.ToolRegistered) {
        const data = (event as GovmeshEvent<typeof EventTypes.ToolRegistered>).data;
        const manifest = data.manifest;
        routes.push({ kind: 'tool', id: data.name, destination: manifest.operation.connector === 'sandbox' ? null : (manifest.connection ?? null), updated_at: event.time });
      } else if (event.type === EventTypes.ConnectionChanged) {
        const data = (event as GovmeshEvent<typeof EventTypes.ConnectionChanged>).data;
        routes.push({ kind: 'connection', id: data.connectionId, destination: data.connection.kind === 'sandbox' ? null : egressDestination(data.connection.endpoint), updated_at: event.time });
      }
    }
    await this.baselines.recordRoutes(uow, latestPerRoute(routes));

    // What the batch says about each run, merged per run before one write.
    const facts = new Map<string, RunFacts>();
    const runOf = (runId: string, time: string): RunFacts => {
      let f = facts.get(runId);
      if (!f) {
        f = { run_id: runId, agent_id: null, workflow_id: null, cost_tokens: 0, denied: false, escalated: false, overridden: false, first_seen_at: time, started_at: null, completed_at: null, outcome: null };
        facts.set(runId, f);
      }
      if (time < f.first_seen_at) f.first_seen_at = time;
      return f;
    };
    const toolCalls: Array<{ event: GovmeshEvent<typeof EventTypes.ToolRequested> }> = [];
    const completions: Array<GovmeshEvent<typeof EventTypes.RunCompleted>> = [];
    for (const { event } of batch) {
      const e = event as GovmeshEvent;
      switch (e.type) {
        case EventTypes.IntentSubmitted: {
          const d = (e as GovmeshEvent<typeof EventTypes.IntentSubmitted>).data;
          const f = runOf(d.intentId, e.time);
          f.agent_id ??= d.agentId;
          f.workflow_id ??= d.workflow ?? DEFAULT_WORKFLOW_ID;
          break;
        }
        case EventTypes.IntentDecided: {
          const d = (e as GovmeshEvent<typeof EventTypes.IntentDecided>).data;
          const f = runOf(d.runId, e.time);
          f.agent_id ??= d.agentId;
          f.workflow_id ??= d.intent.workflow ?? DEFAULT_WORKFLOW_ID;
          if (d.effect === 'deny') f.denied = true;
          break;
        }
        case EventTypes.ActionDecided: {
          const d = (e as GovmeshEvent<typeof EventTypes.ActionDecided>).data;
          if (d.effect === 'deny') runOf(d.runId, e.time).denied = true;
          break;
        }
        case EventTypes.ModelCompleted: {
          const d = (e as GovmeshEvent<typeof EventTypes.ModelCompleted>).data;
          // A call escalated from the small model paid for the small model's answer too.
          const first = d.escalatedFrom?.usage;
          runOf(d.runId, e.time).cost_tokens += d.usage.inputTokens + d.usage.outputTokens + (first ? first.inputTokens + first.outputTokens : 0);
          break;
        }
        case EventTypes.ApprovalRequested: {
          const d = (e as GovmeshEvent<typeof EventTypes.ApprovalRequested>).data;
          const f = runOf(d.runId, e.time);
          f.agent_id ??= d.agentId;
          if (d.kind === 'escalation' || d.effect === 'escalate' || d.effect === 'edge_case') f.escalated = true;
          break;
        }
        case EventTypes.ApprovalDecided: {
          const d = (e as GovmeshEvent<typeof EventTypes.ApprovalDecided>).data;
          if (d.reviewer && OVERRIDING_DECISIONS.has(d.decision)) runOf(d.runId, e.time).overridden = true;
          break;
        }
        case EventTypes.ToolRequested: {
          const call = e as GovmeshEvent<typeof EventTypes.ToolRequested>;
          runOf(call.data.runId, e.time).agent_id ??= call.data.agentId;
          toolCalls.push({ event: call });
          break;
        }
        case EventTypes.RunCompleted: {
          const done = e as GovmeshEvent<typeof EventTypes.RunCompleted>;
          const f = runOf(done.data.runId, e.time);
          f.agent_id ??= done.data.agentId;
          f.started_at = done.data.startedAt;
          f.completed_at ??= done.data.completedAt;
          f.outcome ??= done.data.outcome;
          completions.push(done);
          break;
        }
        default:
          break;
      }
    }
    const cases = await this.baselines.mergeRuns(uow, [...facts.values()]);
    const newlyCompleted = new Set(cases.filter((c) => c.completed_at && !c.was_completed).map((c) => c.run_id));

    const candidates: Array<AlertCandidate & { flag: Flag }> = [];
    const candidate = (cause: GovmeshEvent, data: BehaviourFlaggedV1) => {
      candidates.push({ agent_id: data.agentId, kind: data.kind, subject: data.subject, run_id: data.runId, observed: data.observed, expected: data.expected, raised_at: now.toISOString(), flag: { cause, data } });
    };
    const agents = [...new Set([...toolCalls.map((c) => c.event.data.agentId), ...completions.map((c) => c.data.agentId)])];
    // The runs this batch is about are judged, not part of the baseline they are judged against.
    const judged = [...new Set([...toolCalls.map((c) => c.event.data.runId), ...newlyCompleted])];
    const warm = await this.baselines.completedRuns(uow, agents, windowStart, judged);

    // Tools and egress destinations: first seen within the window, after the warm-up.
    if (toolCalls.length > 0) {
      const destinations = await this.baselines.destinations(uow, [...new Set(toolCalls.map((c) => c.event.data.tool))]);
      const usage = new Map<string, UsageEntry & { cause: GovmeshEvent<typeof EventTypes.ToolRequested>; destination?: string }>();
      for (const { event } of toolCalls) {
        const d = event.data;
        const day = event.time.slice(0, 10);
        const entries: Array<Pick<UsageEntry, 'dimension' | 'subject'>> = [{ dimension: 'tool', subject: d.tool.slice(0, 300) }];
        const destination = destinations.get(d.tool);
        // A dry run reaches nothing; a tool without a connection (the sandbox) has no egress.
        if (destination && !d.dryRun) entries.push({ dimension: 'egress', subject: destination.slice(0, 300) });
        for (const entry of entries) {
          const key = usageKey({ agent_id: d.agentId, ...entry, day } as UsageEntry) + `\u0000${day}`;
          const existing = usage.get(key);
          if (existing) {
            existing.calls += 1;
            if (event.time > existing.last_seen_at) existing.last_seen_at = event.time;
          } else usage.set(key, { agent_id: d.agentId, ...entry, day, calls: 1, last_seen_at: event.time, cause: event });
        }
      }
      const entries = [...usage.values()];
      const seen = await this.baselines.seenSince(uow, entries, windowStart.toISOString().slice(0, 10));
      const flagged = new Set<string>();
      for (const entry of entries) {
        const key = usageKey(entry);
        if (seen.has(key) || flagged.has(key) || (warm.get(entry.agent_id) ?? 0) < settings.minRuns) continue;
        flagged.add(key);
        const d = entry.cause.data;
        const kind = entry.dimension === 'tool' ? 'first_seen_tool' : 'unseen_egress';
        const what = entry.dimension === 'tool' ? `tool ${entry.subject}` : `egress destination ${entry.subject} (through ${d.tool})`;
        candidate(entry.cause, {
          runId: d.runId,
          agentId: d.agentId,
          stepId: d.stepId,
          kind,
          subject: entry.subject,
          tool: d.tool.slice(0, 128),
          observed: 1,
          expected: 0,
          baselineRuns: warm.get(entry.agent_id) ?? 0,
          windowDays: settings.windowDays,
          reasons: [{ code: kind, message: `${d.agentId} called ${what}, which it did not use in its last ${settings.windowDays} days (${warm.get(entry.agent_id)} completed runs)`.slice(0, 2000) }],
        });
      }
      await this.baselines.recordUsage(uow, entries.map(({ cause: _cause, ...row }) => row));
    }

    // Cost per run and deny and escalation rates: judged when runs complete.
    const completed = completions.filter((c) => newlyCompleted.has(c.data.runId));
    if (completed.length > 0) {
      const completingAgents = [...new Set(completed.map((c) => c.data.agentId))];
      const costs = await this.baselines.costBaselines(uow, completingAgents, windowStart, [...newlyCompleted]);
      const costOf = new Map(cases.map((c) => [c.run_id, Number(c.cost_tokens)]));
      for (const done of completed) {
        const d = done.data;
        const baseline = costs.get(d.agentId) ?? { runs: 0, mean: 0, stddev: 0 };
        const cost = costOf.get(d.runId) ?? 0;
        const judged = judgeCost(cost, baseline, settings.costSigma, settings.minRuns);
        if (!judged.flagged) continue;
        candidate(done, {
          runId: d.runId,
          agentId: d.agentId,
          kind: 'cost_outlier',
          subject: 'cost',
          observed: cost,
          expected: round(baseline.mean),
          threshold: round(judged.threshold),
          baselineRuns: baseline.runs,
          windowDays: settings.windowDays,
          reasons: [{ code: 'cost_outlier', message: `run ${d.runId} of ${d.agentId} used ${cost} model tokens, above its usual ${round(baseline.mean)} + ${settings.costSigma} standard deviations (${round(judged.threshold)}) over ${baseline.runs} runs`.slice(0, 2000) }],
        });
      }
      const lastCompletion = new Map(completed.map((c) => [c.data.agentId, c]));
      for (const row of await this.baselines.rates(uow, completingAgents, windowStart, settings.recentRuns)) {
        const cause = lastCompletion.get(row.agent_id);
        if (!cause) continue;
        for (const [kind, subject, recent, base] of [
          ['deny_rate', 'deny', { runs: row.recent.runs, hits: row.recent.hits }, { runs: row.baseline.runs, hits: row.baseline.hits }],
          ['escalation_rate', 'escalation', { runs: row.recent.runs, hits: row.recent.escalated }, { runs: row.baseline.runs, hits: row.baseline.escalated }],
        ] as const) {
          const judged = judgeRate(recent, base, settings.minRuns, settings.rateMinCount);
          if (!judged.flagged) continue;
          candidate(cause, {
            runId: cause.data.runId,
            agentId: row.agent_id,
            kind,
            subject,
            observed: round(judged.recentRate),
            expected: round(judged.baselineRate),
            threshold: round(judged.threshold),
            baselineRuns: base.runs,
            windowDays: settings.windowDays,
            reasons: [{ code: kind, message: `${recent.hits} of the last ${recent.runs} runs of ${row.agent_id} had a ${subject}, against a usual ${round(judged.baselineRate * 100)}% over ${base.runs} runs (flagged above ${round(judged.threshold * 100)}%: ${RATE_SIGMA} standard errors)`.slice(0, 2000) }],
          });
        }
      }
    }

    // Never an event that would fail its schema (it would take the batch, audit included, with it).
    const keys = new Set<string>();
    const valid = candidates.filter((c) => {
      // One alert per agent, kind and subject, in a batch as across batches.
      if (keys.has(alertKey(c))) return false;
      keys.add(alertKey(c));
      const invalid = validateEventData(EventTypes.BehaviourFlagged, c.flag.data);
      if (invalid) this.logger.warn(`behaviour alert for ${c.agent_id} not raised: ${invalid.message}`);
      return !invalid;
    });
    const raised = await this.baselines.raise(uow, valid.map(({ flag: _flag, ...row }) => row), windowStart);
    return { flags: valid.filter((c) => raised.has(alertKey(c))).map((c) => c.flag), cases };
  }
}

const round = (n: number) => Math.round(n * 1000) / 1000;

/** One route per tool or connection: the newest event of the batch. */
function latestPerRoute<R extends { kind: string; id: string; updated_at: string }>(routes: readonly R[]): R[] {
  const latest = new Map<string, R>();
  for (const r of routes) {
    const key = `${r.kind}\u0000${r.id}`;
    const seen = latest.get(key);
    if (!seen || seen.updated_at <= r.updated_at) latest.set(key, r);
  }
  return [...latest.values()];
}
