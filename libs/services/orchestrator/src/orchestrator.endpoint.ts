import { Inject, Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import type { DataSource, EntityManager } from 'typeorm';
import { EventTypes, type IntentSubmittedV1, type Reason, type RunOutcome } from '@govmesh/contracts';
import type { EventHandlers, HandlerContext } from '@govmesh/messaging';
import { insertable } from '@govmesh/persistence';
import { ENDPOINT_DEPS, ServiceEndpoint, type ServiceEndpointDeps } from '@govmesh/nest-runtime';
import { DEFAULT_WORKFLOW, riskOfTask, stepOfKind } from '@govmesh/workflow';
import { ORCHESTRATOR_DATABASE, ORCHESTRATOR_SERVICE } from './database';
import { RunRecord, RunTimelineEntry } from './entities';

const CONTEXT_LIMIT = 3;
const wf = DEFAULT_WORKFLOW;

/**
 * Layer 2: drives each run through the workflow. Every transition happens in the transaction
 * that consumed the event causing it, together with the next command in the outbox, so a
 * crash between steps neither loses nor repeats a step.
 */
@Injectable()
export class OrchestratorEndpoint extends ServiceEndpoint {
  constructor(@InjectDataSource(ORCHESTRATOR_SERVICE) dataSource: DataSource, @Inject(ENDPOINT_DEPS) deps: ServiceEndpointDeps) {
    super(ORCHESTRATOR_SERVICE, ORCHESTRATOR_DATABASE.schema, dataSource, deps);
  }

  /** HTTP ingress: records the run and publishes the intent in one transaction. */
  async submitIntent(intent: IntentSubmittedV1, traceparent?: string): Promise<{ run: RunRecord; created: boolean }> {
    return this.transaction(async (manager, emit) => {
      const existing = await manager.findOne(RunRecord, { where: { id: intent.intentId } });
      if (existing) return { run: existing, created: false };
      const run = newRun(intent, 'http');
      await insertRun(manager, run);
      await timeline(manager, run.id, null, 'intent_received', EventTypes.IntentSubmitted, null, { source: 'http', task: intent.task });
      emit(EventTypes.IntentSubmitted, intent, intent.intentId, traceparent);
      this.deps.metrics.intentsReceived.inc({ service: this.service, source: 'http' });
      return { run, created: true };
    });
  }

  recordRejectedIntent(reason: string): void {
    this.deps.metrics.intentsRejected.inc({ service: this.service, reason });
  }

  async findRun(id: string): Promise<{ run: RunRecord; timeline: RunTimelineEntry[] } | null> {
    const run = await this.dataSource.getRepository(RunRecord).findOne({ where: { id } });
    if (!run) return null;
    const entries = await this.dataSource.getRepository(RunTimelineEntry).find({ where: { runId: id }, order: { seq: 'ASC' } });
    return { run, timeline: entries };
  }

  protected handlers(): EventHandlers {
    return {
      [EventTypes.IntentDecided]: async (event, ctx) => {
        const d = event.data;
        let run = await ctx.manager.findOne(RunRecord, { where: { id: d.runId }, lock: { mode: 'pessimistic_write' } });
        if (!run) {
          // Intents published straight to Kafka are first seen here.
          await insertRun(ctx.manager, newRun(d.intent, 'kafka'));
          run = await ctx.manager.findOneOrFail(RunRecord, { where: { id: d.runId } });
          await timeline(ctx.manager, run.id, null, 'intent_received', EventTypes.IntentSubmitted, null, { source: 'kafka', task: run.task });
          this.deps.metrics.intentsReceived.inc({ service: this.service, source: 'kafka' });
        }
        if (!(await this.expect(ctx, run, ['pending'], event.type, event.id))) return;
        run.agentVersion = d.agentVersion ?? null;
        await timeline(ctx.manager, run.id, null, `policy_${d.effect}`, event.type, event.id, { reasons: d.reasons, policyVersion: d.policyVersion });
        if (d.effect === 'deny') return this.complete(ctx, run, 'denied', d.reasons);
        if (d.effect !== 'allow') return this.awaitApproval(ctx, run, 'intent', d.effect, d.reasons);
        const step = stepOfKind(wf, 'context');
        await this.moveTo(ctx.manager, run, step.id);
        ctx.emit(EventTypes.ContextRequested, { runId: run.id, stepId: step.id, agentId: run.agentId, query: run.task, limit: CONTEXT_LIMIT });
      },
      [EventTypes.ContextRetrieved]: async (event, ctx) => {
        const run = await this.runFor(ctx, event.data.runId);
        if (!run || !(await this.expectStep(ctx, run, 'context', event.type, event.id))) return;
        await timeline(ctx.manager, run.id, event.data.stepId, 'context_retrieved', event.type, event.id, {
          citations: event.data.citations.map((c) => ({ documentId: c.documentId, source: c.source })),
          withheld: event.data.withheld,
        });
        const step = stepOfKind(wf, 'model');
        await this.moveTo(ctx.manager, run, step.id);
        ctx.emit(EventTypes.ModelRequested, {
          runId: run.id,
          stepId: step.id,
          agentId: run.agentId,
          task: run.task,
          input: run.input,
          citations: event.data.citations,
          risk: riskOfTask(run.input),
        });
      },
      [EventTypes.ModelCompleted]: async (event, ctx) => {
        const run = await this.runFor(ctx, event.data.runId);
        if (!run || !(await this.expectStep(ctx, run, 'model', event.type, event.id))) return;
        const m = event.data;
        await timeline(ctx.manager, run.id, m.stepId, 'model_completed', event.type, event.id, { model: m.model, confidence: m.confidence, proposal: m.proposal });
        if (m.proposal.kind === 'no_action') {
          return this.complete(ctx, run, 'failed', [{ code: 'no_action_proposed', message: `the model proposed no action: ${m.proposal.rationale}` }]);
        }
        const step = stepOfKind(wf, 'action');
        run.proposal = { tool: m.proposal.tool, arguments: m.proposal.arguments };
        await this.moveTo(ctx.manager, run, step.id);
        ctx.emit(EventTypes.ActionProposed, {
          runId: run.id,
          stepId: step.id,
          agentId: run.agentId,
          ...(run.agentVersion ? { agentVersion: run.agentVersion } : {}),
          tool: m.proposal.tool,
          arguments: m.proposal.arguments,
          rationale: m.proposal.rationale,
        });
      },
      [EventTypes.ActionDecided]: async (event, ctx) => {
        const run = await this.runFor(ctx, event.data.runId);
        if (!run || !(await this.expectStep(ctx, run, 'action', event.type, event.id))) return;
        const d = event.data;
        await timeline(ctx.manager, run.id, d.stepId, `action_${d.effect}`, event.type, event.id, { reasons: d.reasons, grantId: d.grant?.grantId });
        if (d.effect === 'deny') return this.complete(ctx, run, 'denied', d.reasons);
        if (d.effect !== 'allow') return this.awaitApproval(ctx, run, d.stepId, d.effect, d.reasons);
        if (!d.grant || !run.proposal) {
          return this.complete(ctx, run, 'failed', [{ code: 'grant_missing', message: 'policy allowed the action but issued no grant' }]);
        }
        const step = stepOfKind(wf, 'tool');
        await this.moveTo(ctx.manager, run, step.id);
        ctx.emit(EventTypes.ToolRequested, {
          runId: run.id,
          stepId: step.id,
          agentId: run.agentId,
          ...(run.agentVersion ? { agentVersion: run.agentVersion } : {}),
          tool: run.proposal.tool,
          arguments: run.proposal.arguments,
          grant: d.grant,
        });
      },
      [EventTypes.ToolExecuted]: async (event, ctx) => {
        const run = await this.runFor(ctx, event.data.runId);
        if (!run || !(await this.expectStep(ctx, run, 'tool', event.type, event.id))) return;
        const t = event.data;
        await timeline(ctx.manager, run.id, t.stepId, `tool_${t.status}`, event.type, event.id, { executionId: t.executionId, reasons: t.reasons });
        if (t.status !== 'succeeded') return this.complete(ctx, run, 'failed', t.reasons.length ? t.reasons : [{ code: `tool_${t.status}`, message: `the tool ${t.status}` }]);
        run.result = t.output ?? {};
        if (!t.claim) {
          return this.complete(ctx, run, 'verification_failed', [{ code: 'nothing_to_verify', message: 'the tool made no claim the verifier could check; done means verified' }]);
        }
        const step = stepOfKind(wf, 'verify');
        await this.moveTo(ctx.manager, run, step.id);
        ctx.emit(EventTypes.VerificationRequested, { runId: run.id, stepId: step.id, claim: t.claim });
      },
      [EventTypes.VerificationCompleted]: async (event, ctx) => {
        const run = await this.runFor(ctx, event.data.runId);
        if (!run || !(await this.expectStep(ctx, run, 'verify', event.type, event.id))) return;
        const v = event.data;
        await timeline(ctx.manager, run.id, v.stepId, `verification_${v.verdict}`, event.type, event.id, { reasons: v.reasons });
        return this.complete(ctx, run, v.verdict === 'confirmed' ? 'verified' : 'verification_failed', v.reasons);
      },
    };
  }

  private async runFor(ctx: HandlerContext, runId: string): Promise<RunRecord | null> {
    const run = await ctx.manager.findOne(RunRecord, { where: { id: runId }, lock: { mode: 'pessimistic_write' } });
    if (!run) this.logger.warn(`event for unknown run ${runId} ignored`);
    return run;
  }

  /** An event that does not fit the run's state is recorded and ignored, never applied twice. */
  private async expect(ctx: HandlerContext, run: RunRecord, statuses: string[], type: string, eventId: string): Promise<boolean> {
    if (statuses.includes(run.status)) return true;
    await timeline(ctx.manager, run.id, run.currentStep, 'event_ignored', type, eventId, { reason: `run is ${run.status}` });
    return false;
  }

  private async expectStep(ctx: HandlerContext, run: RunRecord, kind: string, type: string, eventId: string): Promise<boolean> {
    if (run.status === 'running' && run.currentStep === stepOfKind(wf, kind as never).id) return true;
    await timeline(ctx.manager, run.id, run.currentStep, 'event_ignored', type, eventId, { reason: `run is ${run.status} at step ${run.currentStep}` });
    return false;
  }

  private async moveTo(manager: EntityManager, run: RunRecord, stepId: string): Promise<void> {
    run.status = 'running';
    run.currentStep = stepId;
    await saveRun(manager, run);
  }

  private async awaitApproval(ctx: HandlerContext, run: RunRecord, stepId: string, effect: 'require_approval' | 'escalate', reasons: Reason[]): Promise<void> {
    run.status = 'awaiting_approval';
    run.reasons = reasons;
    await saveRun(ctx.manager, run);
    ctx.emit(EventTypes.ApprovalRequested, {
      runId: run.id,
      stepId,
      agentId: run.agentId,
      effect,
      reasons,
      state: { task: run.task, input: run.input, proposal: run.proposal, currentStep: run.currentStep },
    });
  }

  private async complete(ctx: HandlerContext, run: RunRecord, outcome: RunOutcome, reasons: Reason[]): Promise<void> {
    const completedAt = new Date();
    run.status = 'completed';
    run.outcome = outcome;
    run.reasons = reasons;
    run.completedAt = completedAt;
    await saveRun(ctx.manager, run);
    await timeline(ctx.manager, run.id, run.currentStep, `run_${outcome}`, EventTypes.RunCompleted, null, { reasons });
    ctx.emit(EventTypes.RunCompleted, {
      runId: run.id,
      agentId: run.agentId,
      outcome,
      reasons,
      ...(run.result ? { result: run.result } : {}),
      startedAt: run.createdAt.toISOString(),
      completedAt: completedAt.toISOString(),
    });
    const { metrics } = this.deps;
    metrics.runsCompleted.inc({ service: this.service, outcome });
    metrics.runDuration.observe({ service: this.service, outcome }, (completedAt.getTime() - run.createdAt.getTime()) / 1000);
  }
}

/** One UPDATE of the run's mutable state (TypeORM's save would read the row again first). */
async function saveRun(manager: EntityManager, run: RunRecord): Promise<void> {
  const { agentVersion, status, outcome, currentStep, proposal, reasons, result, completedAt } = run;
  await manager.update(RunRecord, { id: run.id }, insertable<RunRecord>({ agentVersion, status, outcome, currentStep, proposal, reasons, result, completedAt }));
}

async function insertRun(manager: EntityManager, run: RunRecord): Promise<void> {
  await manager.insert(RunRecord, insertable<RunRecord>(run));
}

function newRun(intent: IntentSubmittedV1, source: 'http' | 'kafka'): RunRecord {
  return Object.assign(new RunRecord(), {
    id: intent.intentId,
    agentId: intent.agentId,
    agentVersion: intent.agentVersion ?? null,
    task: intent.task,
    input: intent.input ?? {},
    status: 'pending',
    outcome: null,
    currentStep: null,
    workflowId: wf.id,
    workflowVersion: wf.version,
    proposal: null,
    reasons: [],
    result: null,
    source,
    completedAt: null,
    createdAt: new Date(),
  });
}

async function timeline(manager: EntityManager, runId: string, stepId: string | null, kind: string, eventType: string | null, eventId: string | null, detail: Record<string, unknown>): Promise<void> {
  await manager.insert(RunTimelineEntry, insertable<RunTimelineEntry>({ runId, stepId, kind, eventType, eventId, detail }));
}
