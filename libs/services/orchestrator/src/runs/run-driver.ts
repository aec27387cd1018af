import { randomUUID, type KeyObject } from 'node:crypto';
import { Inject, Injectable, Logger, type OnModuleInit } from '@nestjs/common';
import { signApproval } from '@govmesh/action-grants';
import { EventTypes, type ActionGrant, type Citation, type GovmeshEvent, type RecordClaim } from '@govmesh/contracts';
import type { UnitOfWork } from '@govmesh/messaging';
import { ENDPOINT_DEPS, ServiceKeys, type ServiceEndpointDeps } from '@govmesh/nest-runtime';
import { advance, type Advanced, type CompiledWorkflow, type Refusal, type WorkflowCommand, type WorkflowInput } from '@govmesh/workflow';
import { ORCHESTRATOR_SERVICE } from '../database';
import { NotificationsService } from '../notifications/notifications.service';
import { reviewerNotificationText, type NotificationToSend } from '../notifications/notifier';
import { WorkflowRegistry } from '../workflows/workflow-registry';
import type { RunState, TimelineEntry } from './run-state';
import { RunsRepository } from './runs.repository';
import { StepTrace } from './run-tracing';

/** One input for one run, with the event that carried it (if any). */
export interface RunStep {
  run: RunState;
  input: WorkflowInput;
  cause?: GovmeshEvent;
  /** The event's type and id for the timeline. */
  eventType?: string | null;
  eventId?: string | null;
  /** Who caused this input (an operator's registry change, say): recorded on each timeline line it writes. */
  by?: Record<string, unknown>;
}

/**
 * The one path by which anything moves a run — an event, a timer, a reviewer's decision, a
 * signal: load the run (the caller holds its lock), call the pure interpreter, write what it
 * returns (run, step executions, timeline, timers, review items, events, notifications) in the
 * caller's unit of work.
 */
@Injectable()
export class RunDriver implements OnModuleInit {
  private readonly logger = new Logger(ORCHESTRATOR_SERVICE);
  private attestationKey?: KeyObject;

  constructor(
    private readonly runs: RunsRepository,
    private readonly workflows: WorkflowRegistry,
    private readonly notifications: NotificationsService,
    private readonly keys: ServiceKeys,
    @Inject(ENDPOINT_DEPS) private readonly deps: ServiceEndpointDeps,
  ) {}

  /** Reviewer approvals are attested with the orchestrator's key: without it the orchestrator does not start. */
  onModuleInit(): void {
    this.attestationKey = this.keys.signingKey('ingress');
  }

  workflowOf(run: Pick<RunState, 'workflowId' | 'workflowVersion'>, uow: UnitOfWork): Promise<CompiledWorkflow> {
    return this.workflows.compiledVersion(run.workflowId, run.workflowVersion, (sql, params) => uow.query(sql, params));
  }

  /**
   * Applies inputs in order (several may concern one run) and writes the results. `created` runs
   * are inserted, the others updated. Returns the refusal of a refused input (nothing written for it).
   */
  async apply(uow: UnitOfWork, steps: readonly RunStep[], created: ReadonlySet<string> = new Set()): Promise<Array<Refusal | undefined>> {
    const now = new Date();
    const dirty = new Map<string, RunState>();
    const timeline: TimelineEntry[] = [];
    const executions: Parameters<RunsRepository['writeSteps']>[1][number][] = [];
    const notifications: NotificationToSend[] = [];
    const timersToSet = new Map<string, { id: string; purpose: string; runId: string; dueAt: Date; payload: Record<string, unknown> }>();
    const timersToCancel = new Set<string>();
    const finished: RunState[] = [];
    const refusals: Array<Refusal | undefined> = [];
    const reviewWrites: Array<() => Promise<void>> = [];
    const escalations: string[] = [];
    const reviewsDecided: Array<{ kind: string; decision: string; seconds: number }> = [];

    for (const step of steps) {
      const workflow = await this.workflowOf(step.run, uow);
      const trace = StepTrace.start(uow, step.run, step.input, step.cause);
      const reviewRequestedAt = step.run.review?.requestedAt;
      const result: Advanced = advance(workflow, step.run, step.input, { now, newId: () => randomUUID(), slaWarningFraction: this.deps.config.slaWarningFraction });
      if (result.refused) {
        refusals.push(result.refused);
        trace.end(step.run, result.refused);
        continue;
      }
      refusals.push(undefined);
      const run: RunState = Object.assign(step.run, result.run);
      for (const l of result.timeline) timeline.push({ runId: run.runId, stepId: l.stepId, kind: l.kind, eventType: step.eventType ?? step.cause?.type ?? null, eventId: step.eventId ?? step.cause?.id ?? null, detail: step.by ? { ...l.detail, by: step.by } : l.detail });
      for (const e of result.executions) executions.push({ ...e, runId: run.runId });
      for (const id of result.cancelTimers) {
        timersToSet.delete(id);
        timersToCancel.add(id);
      }
      for (const t of result.timers) timersToSet.set(t.id, { ...t, runId: run.runId });
      for (const command of result.commands) {
        trace.emit(command, () => this.emit(uow, run, command, workflow, step.cause, notifications, reviewWrites, now));
        if (command.kind === 'review_requested' && command.review.kind === 'escalation') escalations.push(command.review.escalationCase ?? 'edge_case');
        // An item moved up a level is escalated, not decided: its time to decision goes on.
        if (command.kind === 'review_decided' && command.decision === 'escalated') escalations.push('review_unanswered');
        else if (command.kind === 'review_decided' && reviewRequestedAt) reviewsDecided.push({ kind: command.reviewKind, decision: command.decision, seconds: Math.max(0, now.getTime() - Date.parse(reviewRequestedAt)) / 1000 });
      }
      if (result.changed && !created.has(run.runId)) dirty.set(run.runId, run);
      if (result.outcome) finished.push(run);
      trace.end(run);
    }

    await this.runs.update(uow, [...dirty.values()]);
    await this.runs.writeSteps(uow, executions);
    await this.runs.appendTimeline(uow, timeline);
    for (const write of reviewWrites) await write();
    await uow.cancelTimers([...timersToCancel]);
    uow.setTimers([...timersToSet.values()]);
    if (notifications.length > 0) await this.notifications.enqueue(uow, notifications);
    const { metrics } = this.deps;
    uow.afterCommit(() => {
      for (const run of finished) {
        metrics.runsCompleted.inc({ service: ORCHESTRATOR_SERVICE, outcome: run.outcome! });
        metrics.runDuration.observe({ service: ORCHESTRATOR_SERVICE, outcome: run.outcome! }, (Date.parse(run.completedAt!) - run.createdAt.getTime()) / 1000);
      }
      for (const reason of escalations) metrics.escalations.inc({ service: ORCHESTRATOR_SERVICE, reason });
      for (const r of reviewsDecided) metrics.approvalDecisionDuration.observe({ service: ORCHESTRATOR_SERVICE, kind: r.kind, decision: r.decision }, r.seconds);
    });
    return refusals;
  }

  private emit(uow: UnitOfWork, run: RunState, command: WorkflowCommand, workflow: CompiledWorkflow, cause: GovmeshEvent | undefined, notifications: NotificationToSend[], reviewWrites: Array<() => Promise<void>>, now: Date): void {
    const opts = cause ? { cause } : {};
    const version = run.agentVersion ? { agentVersion: run.agentVersion } : {};
    switch (command.kind) {
      case 'retrieve':
        uow.emit(EventTypes.ContextRequested, { runId: run.runId, stepId: command.execId, agentId: run.agentId, query: command.query, limit: command.limit }, opts);
        return;
      case 'call_model': {
        const citations = Object.values(run.outputs).flatMap((o) => ((o as { citations?: Citation[] })?.citations ?? []));
        uow.emit(
          EventTypes.ModelRequested,
          {
            runId: run.runId,
            stepId: command.execId,
            agentId: run.agentId,
            task: run.task,
            input: run.input,
            citations,
            risk: command.risk,
            ...(command.instructions ? { instructions: command.instructions } : {}),
            ...(command.outputSchema ? { outputSchema: command.outputSchema, steps: command.steps } : {}),
          },
          opts,
        );
        return;
      }
      case 'propose_action': {
        const approval = command.approval
          ? (() => {
              const fields = { approvalId: command.approval.approvalId, digest: command.approval.digest, reviewer: command.approval.reviewer, requester: run.requester, decidedAt: command.approval.decidedAt };
              this.attestationKey ??= this.keys.signingKey('ingress');
              return { ...fields, signature: signApproval(this.attestationKey, fields) };
            })()
          : undefined;
        uow.emit(
          EventTypes.ActionProposed,
          {
            runId: run.runId,
            stepId: command.execId,
            agentId: run.agentId,
            ...version,
            tool: command.tool,
            arguments: command.arguments,
            ...(command.rationale ? { rationale: command.rationale.slice(0, 4000) } : {}),
            ...(command.tier ? { workflowTier: command.tier as never } : {}),
            ...(approval ? { approval } : {}),
          },
          opts,
        );
        return;
      }
      case 'execute_tool':
        uow.emit(
          EventTypes.ToolRequested,
          { runId: run.runId, stepId: command.execId, actionStepId: command.execId, agentId: run.agentId, ...version, tool: command.tool, arguments: command.arguments, grant: command.grant as ActionGrant, idempotencyKey: command.idempotencyKey },
          opts,
        );
        return;
      case 'verify':
        uow.emit(
          EventTypes.VerificationRequested,
          {
            runId: run.runId,
            stepId: command.execId,
            claim: command.claim as RecordClaim,
            ...(command.call
              ? { tool: command.call.tool, executionId: command.call.executionId, arguments: command.call.arguments, ...(command.call.output ? { output: command.call.output } : {}) }
              : {}),
          },
          opts,
        );
        return;
      case 'review_requested': {
        const r = command.review;
        const policyEffect = (command.state['policy'] as { effect?: string } | undefined)?.effect;
        const effect = r.kind === 'checkpoint' ? 'checkpoint' : policyEffect === 'require_approval' || policyEffect === 'escalate' ? policyEffect : 'edge_case';
        reviewWrites.push(() => this.runs.openReviews(uow, [{ run, review: r, reasons: command.reasons, state: command.state }]));
        uow.emit(
          EventTypes.ApprovalRequested,
          {
            runId: run.runId,
            stepId: r.execId ?? 'intent',
            agentId: run.agentId,
            effect,
            reasons: command.reasons,
            state: command.state,
            approvalId: r.id,
            kind: r.kind,
            groups: command.review.levels.slice(r.level - 1).flatMap((l) => l.groups).filter((g, i, all) => all.indexOf(g) === i),
            level: r.level,
            ...(r.digest ? { digest: r.digest } : {}),
            ...(r.expiresAt ? { expiresAt: r.expiresAt } : {}),
          },
          opts,
        );
        return;
      }
      case 'review_decided': {
        const at = now.toISOString();
        if (command.decision === 'escalated') {
          const review = run.review;
          if (review) reviewWrites.push(() => this.runs.escalateReview(uow, review, at));
        } else {
          reviewWrites.push(() =>
            this.runs.closeReview(uow, command.reviewId, {
              status: command.decision,
              at,
              ...(command.reviewer ? { reviewer: command.reviewer } : {}),
              ...(command.reason ? { reason: command.reason } : {}),
              ...(command.digest ? { digest: command.digest } : {}),
              ...(command.detail ? { detail: command.detail } : {}),
            }),
          );
        }
        uow.emit(
          EventTypes.ApprovalDecided,
          {
            runId: run.runId,
            stepId: command.stepId,
            approvalId: command.reviewId,
            kind: command.reviewKind,
            decision: command.decision,
            ...(command.reviewer ? { reviewer: command.reviewer } : {}),
            ...(command.reason ? { reason: command.reason.slice(0, 2000) } : {}),
            ...(command.digest ? { digest: command.digest } : {}),
            ...(command.level ? { level: command.level } : {}),
          },
          opts,
        );
        return;
      }
      case 'notify': {
        const action = run.cursor?.action;
        const amount = action && typeof action.arguments['amount'] === 'number' ? { value: action.arguments['amount'] as number, currency: typeof action.arguments['currency'] === 'string' ? (action.arguments['currency'] as string) : undefined } : undefined;
        const step = run.cursor ? workflow.steps.get(run.cursor.stepId) : undefined;
        const asked =
          command.reviewKind === 'approval' && action
            ? `approve ${action.tool} (digest ${action.digest.slice(0, 12)}…)`
            : command.reviewKind === 'checkpoint'
              ? `checkpoint ${step?.id ?? ''} of workflow ${run.workflowId}`
              : `escalation (${run.review?.escalationCase ?? 'edge case'}) at step ${step?.id ?? 'start'} of workflow ${run.workflowId}`;
        notifications.push({
          itemId: command.reviewId,
          runId: run.runId,
          groups: command.groups,
          event: command.event,
          text: reviewerNotificationText({ event: command.event, kind: command.reviewKind, itemId: command.reviewId, runId: run.runId, agentId: run.agentId, asked, ...(amount ? { amount } : {}), level: command.level, ...(command.dueAt ? { dueAt: command.dueAt } : {}) }),
        });
        return;
      }
      case 'complete':
        uow.emit(
          EventTypes.RunCompleted,
          { runId: run.runId, agentId: run.agentId, outcome: command.outcome, reasons: command.reasons, ...(command.result ? { result: command.result } : {}), startedAt: run.startedAt, completedAt: run.completedAt ?? now.toISOString() },
          opts,
        );
        return;
    }
  }

  /** Logs an input the orchestrator could not act on. */
  warn(message: string): void {
    this.logger.warn(message);
  }
}
