import { EventTypes, type EventData, type EventType, type GovmeshEvent, type Reason, type RunOutcome } from '@govmesh/contracts';
import { riskOfTask, stepOfKind, type StepKind, type WorkflowDefinition } from '@govmesh/workflow';
import type { RunState, TimelineEntry } from './run-state';

const CONTEXT_LIMIT = 3;

/** A command or result the run emits, in the order it emits them. */
export type Emission = { [T in EventType]: { type: T; data: EventData<T> } }[EventType];

/** An outside decision delivered to a run: a signal. */
export interface RunSignal {
  kind: 'cancel';
  reason: Reason;
}

/** What a run's input changed: timeline lines, events to emit, and whether the run ended. */
export interface Transition {
  timeline: TimelineEntry[];
  emit: Emission[];
  changed: boolean;
  completed: boolean;
}

export type RunInput =
  | { kind: 'event'; event: GovmeshEvent }
  | { kind: 'deadline'; timerId: string; eventId: string }
  | { kind: 'signal'; signal: RunSignal };

const TERMINAL = new Set(['completed']);

/**
 * The orchestrator's state machine over the built-in workflow, as one pure function: the run,
 * the input (an event, a fired deadline, a signal) and the time give the new run state and what
 * to emit. Handlers only load runs, call this, and write what it returns.
 */
export function applyToRun(run: RunState, input: RunInput, workflow: WorkflowDefinition, now: Date): Transition {
  const t: Transition = { timeline: [], emit: [], changed: false, completed: false };
  const line = (stepId: string | null, kind: string, eventType: string | null, eventId: string | null, detail: Record<string, unknown>) =>
    t.timeline.push({ runId: run.id, stepId, kind, eventType, eventId, detail });

  const complete = (outcome: RunOutcome, reasons: Reason[]) => {
    run.status = 'completed';
    run.outcome = outcome;
    run.reasons = reasons;
    run.completedAt = now;
    t.changed = true;
    t.completed = true;
    line(run.currentStep, `run_${outcome}`, EventTypes.RunCompleted, null, { reasons });
    t.emit.push({
      type: EventTypes.RunCompleted,
      data: {
        runId: run.id,
        agentId: run.agentId,
        outcome,
        reasons,
        ...(run.result ? { result: run.result } : {}),
        startedAt: run.createdAt.toISOString(),
        completedAt: now.toISOString(),
      },
    });
  };
  const moveTo = (kind: StepKind) => {
    const step = stepOfKind(workflow, kind);
    run.status = 'running';
    run.currentStep = step.id;
    t.changed = true;
    return step.id;
  };
  const ignore = (type: string, eventId: string, reason: string) => line(run.currentStep, 'event_ignored', type, eventId, { reason });
  const awaitApproval = (stepId: string, effect: 'require_approval' | 'escalate', reasons: Reason[]) => {
    run.status = 'awaiting_approval';
    run.reasons = reasons;
    t.changed = true;
    t.emit.push({
      type: EventTypes.ApprovalRequested,
      data: { runId: run.id, stepId, agentId: run.agentId, effect, reasons, state: { task: run.task, input: run.input, proposal: run.proposal, currentStep: run.currentStep } },
    });
  };

  if (input.kind === 'deadline') {
    if (TERMINAL.has(run.status)) {
      ignore(EventTypes.TimerFired, input.eventId, `run is ${run.status}`);
      return t;
    }
    line(run.currentStep, 'deadline_passed', EventTypes.TimerFired, input.eventId, { deadlineAt: run.deadlineAt.toISOString() });
    complete('timed_out', [{ code: 'deadline_passed', message: `the run did not finish by its deadline ${run.deadlineAt.toISOString()} (while ${run.status}${run.currentStep ? ` at step ${run.currentStep}` : ''})` }]);
    return t;
  }
  if (input.kind === 'signal') {
    if (TERMINAL.has(run.status)) {
      line(run.currentStep, 'signal_ignored', null, null, { signal: input.signal.kind, reason: `run is ${run.status}` });
      return t;
    }
    line(run.currentStep, `signal_${input.signal.kind}`, null, null, { reason: input.signal.reason });
    complete('cancelled', [input.signal.reason]);
    return t;
  }

  const event = input.event;
  /** The run must be running at the step of `kind` for a reply from that step. */
  const atStep = (kind: StepKind): boolean => {
    if (run.status === 'running' && run.currentStep === stepOfKind(workflow, kind).id) return true;
    ignore(event.type, event.id, `run is ${run.status} at step ${run.currentStep}`);
    return false;
  };

  switch (event.type) {
    case EventTypes.IntentDecided: {
      const d = (event as GovmeshEvent<typeof EventTypes.IntentDecided>).data;
      if (run.status !== 'pending') {
        ignore(event.type, event.id, `run is ${run.status}`);
        return t;
      }
      run.agentVersion = d.agentVersion ?? null;
      t.changed = true;
      line(null, `policy_${d.effect}`, event.type, event.id, { reasons: d.reasons, policyVersion: d.policyVersion });
      if (d.effect === 'deny') complete('denied', d.reasons);
      else if (d.effect !== 'allow') awaitApproval('intent', d.effect, d.reasons);
      else {
        const stepId = moveTo('context');
        t.emit.push({ type: EventTypes.ContextRequested, data: { runId: run.id, stepId, agentId: run.agentId, query: run.task, limit: CONTEXT_LIMIT } });
      }
      return t;
    }
    case EventTypes.ContextRetrieved: {
      const d = (event as GovmeshEvent<typeof EventTypes.ContextRetrieved>).data;
      if (!atStep('context')) return t;
      line(d.stepId, 'context_retrieved', event.type, event.id, { citations: d.citations.map((c) => ({ documentId: c.documentId, source: c.source })), withheld: d.withheld });
      const stepId = moveTo('model');
      t.emit.push({ type: EventTypes.ModelRequested, data: { runId: run.id, stepId, agentId: run.agentId, task: run.task, input: run.input, citations: d.citations, risk: riskOfTask(run.input) } });
      return t;
    }
    case EventTypes.ModelCompleted: {
      const m = (event as GovmeshEvent<typeof EventTypes.ModelCompleted>).data;
      if (!atStep('model')) return t;
      line(m.stepId, 'model_completed', event.type, event.id, { model: m.model, confidence: m.confidence, proposal: m.proposal });
      if (m.proposal.kind === 'no_action') {
        complete('failed', [{ code: 'no_action_proposed', message: `the model proposed no action: ${m.proposal.rationale}` }]);
        return t;
      }
      run.proposal = { tool: m.proposal.tool, arguments: m.proposal.arguments };
      const stepId = moveTo('action');
      t.emit.push({
        type: EventTypes.ActionProposed,
        data: {
          runId: run.id,
          stepId,
          agentId: run.agentId,
          ...(run.agentVersion ? { agentVersion: run.agentVersion } : {}),
          tool: m.proposal.tool,
          arguments: m.proposal.arguments,
          rationale: m.proposal.rationale,
        },
      });
      return t;
    }
    case EventTypes.ActionDecided: {
      const d = (event as GovmeshEvent<typeof EventTypes.ActionDecided>).data;
      if (!atStep('action')) return t;
      line(d.stepId, `action_${d.effect}`, event.type, event.id, { reasons: d.reasons, grantId: d.grant?.grantId });
      if (d.effect === 'deny') complete('denied', d.reasons);
      else if (d.effect !== 'allow') awaitApproval(d.stepId, d.effect, d.reasons);
      else if (!d.grant || !run.proposal) complete('failed', [{ code: 'grant_missing', message: 'policy allowed the action but issued no grant' }]);
      else {
        const stepId = moveTo('tool');
        t.emit.push({
          type: EventTypes.ToolRequested,
          data: {
            runId: run.id,
            stepId,
            actionStepId: d.stepId,
            agentId: run.agentId,
            ...(run.agentVersion ? { agentVersion: run.agentVersion } : {}),
            tool: run.proposal.tool,
            arguments: run.proposal.arguments,
            grant: d.grant,
          },
        });
      }
      return t;
    }
    case EventTypes.ToolExecuted: {
      const d = (event as GovmeshEvent<typeof EventTypes.ToolExecuted>).data;
      if (!atStep('tool')) return t;
      line(d.stepId, `tool_${d.status}`, event.type, event.id, { executionId: d.executionId, reasons: d.reasons });
      if (d.status !== 'succeeded') {
        complete('failed', d.reasons.length ? d.reasons : [{ code: `tool_${d.status}`, message: `the tool ${d.status}` }]);
        return t;
      }
      run.result = d.output ?? {};
      t.changed = true;
      if (!d.claim) {
        complete('verification_failed', [{ code: 'nothing_to_verify', message: 'the tool made no claim the verifier could check; done means verified' }]);
        return t;
      }
      const stepId = moveTo('verify');
      t.emit.push({ type: EventTypes.VerificationRequested, data: { runId: run.id, stepId, claim: d.claim } });
      return t;
    }
    case EventTypes.VerificationCompleted: {
      const v = (event as GovmeshEvent<typeof EventTypes.VerificationCompleted>).data;
      if (!atStep('verify')) return t;
      line(v.stepId, `verification_${v.verdict}`, event.type, event.id, { reasons: v.reasons });
      complete(v.verdict === 'confirmed' ? 'verified' : 'verification_failed', v.reasons);
      return t;
    }
    default:
      ignore(event.type, event.id, `the orchestrator does not act on ${event.type}`);
      return t;
  }
}
