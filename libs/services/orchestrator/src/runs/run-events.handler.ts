import { Inject, Injectable, Logger } from '@nestjs/common';
import { EventTypes, type EventType, type GovmeshEvent } from '@govmesh/contracts';
import { HandlesEvents, type BatchEventHandler, type Consumed, type UnitOfWork } from '@govmesh/messaging';
import { ENDPOINT_DEPS, type ServiceEndpointDeps } from '@govmesh/nest-runtime';
import { newWorkflowRun, timerIds, type TimerPurpose, type WorkflowInput } from '@govmesh/workflow';
import { ORCHESTRATOR_SERVICE } from '../database';
import { WorkflowRegistry } from '../workflows/workflow-registry';
import { kafkaRequester, type RunState } from './run-state';
import { RunDriver, type RunStep } from './run-driver';
import { RunsRepository } from './runs.repository';

export const RUN_EVENT_TYPES = [
  EventTypes.IntentDecided,
  EventTypes.ContextRetrieved,
  EventTypes.ModelCompleted,
  EventTypes.ActionDecided,
  EventTypes.ToolExecuted,
  EventTypes.VerificationCompleted,
  EventTypes.TimerFired,
] as const satisfies readonly EventType[];

const TIMER_PURPOSES = new Set<TimerPurpose>(['run_deadline', 'step_timeout', 'retry', 'wait', 'review_sla', 'review_warning', 'review_expiry']);

const runIdOf = (event: GovmeshEvent): string => (event.data as { runId: string }).runId;

/** A step service's reply as the interpreter's input; replies are matched by step-execution id. */
function replyInput(event: GovmeshEvent): WorkflowInput | null {
  switch (event.type) {
    case EventTypes.ContextRetrieved: {
      const d = (event as GovmeshEvent<typeof EventTypes.ContextRetrieved>).data;
      return { kind: 'context_retrieved', execId: d.stepId, citations: d.citations, withheld: d.withheld };
    }
    case EventTypes.ModelCompleted: {
      const d = (event as GovmeshEvent<typeof EventTypes.ModelCompleted>).data;
      return { kind: 'model_completed', execId: d.stepId, model: d.model, confidence: d.confidence, proposal: d.proposal, ...(d.output ? { output: d.output } : {}), ...(d.reasons?.length ? { reasons: d.reasons } : {}) };
    }
    case EventTypes.ActionDecided: {
      const d = (event as GovmeshEvent<typeof EventTypes.ActionDecided>).data;
      return { kind: 'action_decided', execId: d.stepId, effect: d.effect, reasons: d.reasons, policyVersion: d.policyVersion, ...(d.grant ? { grant: d.grant } : {}), ...(d.approvers ? { approvers: d.approvers } : {}), ...(d.effectiveTier ? { effectiveTier: d.effectiveTier } : {}) };
    }
    case EventTypes.ToolExecuted: {
      const d = (event as GovmeshEvent<typeof EventTypes.ToolExecuted>).data;
      if (d.status === 'dry_run') {
        // The orchestrator never asks for a dry run (shadow mode will): the step's action was not performed.
        const reason = { code: 'dry_run_not_requested', message: `execution ${d.executionId} of ${d.tool} was a dry run: nothing was performed` };
        return { kind: 'tool_executed', execId: d.stepId, status: 'rejected', reasons: [reason, ...d.reasons].slice(0, 20), executionId: d.executionId };
      }
      return { kind: 'tool_executed', execId: d.stepId, status: d.status, ...(d.output ? { output: d.output } : {}), ...(d.claim ? { claim: d.claim } : {}), reasons: d.reasons, executionId: d.executionId, ...(d.retryable !== undefined ? { retryable: d.retryable } : {}) };
    }
    case EventTypes.VerificationCompleted: {
      const d = (event as GovmeshEvent<typeof EventTypes.VerificationCompleted>).data;
      return { kind: 'verification_completed', execId: d.stepId, verdict: d.verdict, ...(d.observed ? { observed: d.observed } : {}), reasons: d.reasons };
    }
    default:
      return null;
  }
}

/**
 * Drives runs a batch at a time: locks every run of the batch with one statement, turns each event
 * into the interpreter's input and lets the RunDriver apply and write them in the batch's transaction.
 */
@Injectable()
@HandlesEvents(ORCHESTRATOR_SERVICE, RUN_EVENT_TYPES)
export class RunEventsHandler implements BatchEventHandler {
  private readonly logger = new Logger(ORCHESTRATOR_SERVICE);

  constructor(
    private readonly runs: RunsRepository,
    private readonly driver: RunDriver,
    private readonly workflows: WorkflowRegistry,
    @Inject(ENDPOINT_DEPS) private readonly deps: ServiceEndpointDeps,
  ) {}

  async handle(batch: ReadonlyArray<Consumed>, uow: UnitOfWork): Promise<void> {
    const { metrics } = this.deps;
    const service = ORCHESTRATOR_SERVICE;
    const now = new Date();
    const loaded = await this.runs.lock(uow, batch.map((c) => runIdOf(c.event)));
    const timers = batch.filter((c) => c.event.type === EventTypes.TimerFired).map((c) => (c.event as GovmeshEvent<typeof EventTypes.TimerFired>).data);
    const genuine = await uow.takeFiredTimers(timers.filter((t) => t.service === service).map((t) => t.timerId));

    const created = new Map<string, RunState>();
    const steps: RunStep[] = [];
    for (const { event } of batch) {
      const runId = runIdOf(event);
      let run = loaded.get(runId) ?? created.get(runId);
      let input: WorkflowInput | null;
      if (event.type === EventTypes.TimerFired) {
        const timer = (event as GovmeshEvent<typeof EventTypes.TimerFired>).data;
        if (timer.service !== service || !genuine.has(timer.timerId) || !TIMER_PURPOSES.has(timer.purpose as TimerPurpose)) {
          const reason = timer.service !== service ? 'other_service' : 'unknown_timer';
          uow.afterCommit(() => {
            metrics.timerEventsRefused.inc({ service, reason });
            if (reason === 'unknown_timer') this.logger.warn(`timer event ${event.id} refused: timer ${timer.timerId} was not set and fired by ${service}`);
          });
          continue;
        }
        input = { kind: 'timer', timerId: timer.timerId, purpose: timer.purpose as TimerPurpose, payload: timer.payload ?? {} };
      } else if (event.type === EventTypes.IntentDecided) {
        const d = (event as GovmeshEvent<typeof EventTypes.IntentDecided>).data;
        if (!run) {
          // Intents published straight to Kafka are first seen here.
          const workflow = await this.workflows.latest(d.intent.workflow, (sql, params) => uow.query(sql, params));
          if (!workflow) {
            uow.afterCommit(() => this.logger.warn(`intent ${runId} names workflow "${d.intent.workflow}", which is not published; no run started`));
            continue;
          }
          const fresh = newWorkflowRun(workflow, { ...d.intent, agentVersion: d.agentVersion ?? d.intent.agentVersion }, kafkaRequester(d.agentId), now, this.deps.config.runDeadlineSeconds);
          run = { ...fresh, source: 'kafka', createdAt: now };
          created.set(run.runId, run);
          uow.afterCommit(() => metrics.intentsReceived.inc({ service, source: 'kafka' }));
        }
        if (run.status === 'pending' && d.agentVersion) run.agentVersion = d.agentVersion;
        input =
          d.effect === 'allow'
            ? { kind: 'start' }
            : d.effect === 'deny'
              ? { kind: 'denied', reasons: d.reasons, policyVersion: d.policyVersion }
              : { kind: 'intent_held', effect: d.effect, reasons: d.reasons, policyVersion: d.policyVersion };
      } else {
        input = replyInput(event);
      }
      if (!run) {
        uow.afterCommit(() => this.logger.warn(`${event.type} for unknown run ${runId} ignored`));
        continue;
      }
      if (input) steps.push({ run, input, cause: event });
    }
    await this.runs.insert(uow, [...created.values()]);
    await this.driver.apply(uow, steps, new Set(created.keys()));
    if (created.size > 0) await this.runs.update(uow, [...created.values()]);
    // Runs born in this batch get their deadline unless they already ended in it.
    uow.setTimers([...created.values()].filter((r) => r.status !== 'completed').map((r) => ({ id: timerIds.deadline(r.runId), purpose: 'run_deadline', runId: r.runId, dueAt: new Date(r.deadlineAt) })));
  }
}
