import { approvalDigest } from '@govmesh/action-grants';
import { schemaKeys, type CompiledWorkflow, type DefinitionProblem } from './compile';
import type { ReviewSpec, StepOf, WorkflowStep } from './definition';
import type {
  ClaimedCall,
  ClaimRef,
  EscalationCase,
  OpenReview,
  ProposedAction,
  Reason,
  ReviewDecision,
  ReviewKind,
  Reviewer,
  RunOutcome,
  StepCursor,
  WorkflowRun,
  ApprovalGiven,
} from './state';

/** Defaults when a definition says nothing. */
export const WORKFLOW_DEFAULTS = {
  stepTimeoutSeconds: 120,
  reviewSlaSeconds: 86_400,
  maxExecutions: 200,
  contextLimit: 3,
  slaWarningFraction: 0.8,
};

export type TimerPurpose = 'run_deadline' | 'step_timeout' | 'retry' | 'wait' | 'review_sla' | 'review_warning' | 'review_expiry';

/** Everything that can move a run: replies of services, timers, human decisions and signals. One path for all. */
export type WorkflowInput =
  | { kind: 'start' }
  | { kind: 'intent_held'; effect: 'require_approval' | 'escalate'; reasons: Reason[]; policyVersion: string }
  | { kind: 'denied'; reasons: Reason[]; policyVersion: string }
  | { kind: 'context_retrieved'; execId: string; citations: ReadonlyArray<Record<string, unknown>>; withheld: number }
  | {
      kind: 'model_completed';
      execId: string;
      model: string;
      confidence: number;
      proposal: { kind: 'tool_call'; tool: string; arguments: Record<string, unknown>; rationale: string } | { kind: 'no_action'; rationale: string };
      output?: Record<string, unknown>;
      /** The model router refused the model's proposal (a tool not in the catalog, invalid arguments): invalid model output. */
      reasons?: Reason[];
    }
  | { kind: 'action_decided'; execId: string; effect: 'allow' | 'deny' | 'require_approval' | 'escalate'; reasons: Reason[]; policyVersion: string; grant?: unknown; approvers?: string[]; effectiveTier?: string }
  | { kind: 'tool_executed'; execId: string; status: 'succeeded' | 'failed' | 'rejected'; output?: Record<string, unknown>; claim?: ClaimRef; reasons: Reason[]; executionId: string; retryable?: boolean }
  | { kind: 'verification_completed'; execId: string; verdict: 'confirmed' | 'mismatch' | 'not_found' | 'unsupported'; observed?: Record<string, unknown>; reasons: Reason[] }
  | { kind: 'timer'; timerId: string; purpose: TimerPurpose; payload: Record<string, unknown> }
  | {
      kind: 'review';
      reviewId: string;
      reviewer: Reviewer;
      decision: ReviewDecision;
      reason?: string;
      /** edit of an action: the arguments the reviewer approves instead. */
      arguments?: Record<string, unknown>;
      /** edit of a checkpoint, supplied model output, or the outcome of a step taken over. */
      output?: Record<string, unknown>;
      /** supplied missing input (merged over the run's input). */
      input?: Record<string, unknown>;
    }
  | { kind: 'cancel'; reason: Reason }
  | { kind: 'pause'; reason: Reason }
  | { kind: 'resume' };

/** What the run asks of the world: the orchestrator turns each into an event (and signs approvals). */
export type WorkflowCommand =
  | { kind: 'retrieve'; execId: string; query: string; limit: number }
  | { kind: 'call_model'; execId: string; instructions?: string; outputSchema?: Record<string, unknown>; risk: 'low' | 'medium' | 'high'; steps: Record<string, unknown> }
  | {
      kind: 'propose_action';
      execId: string;
      tool: string;
      arguments: Record<string, unknown>;
      rationale?: string;
      tier?: string;
      /** The approval this proposal carries; `approvalId` is unique per proposal (policy honours each once). */
      approval?: ApprovalGiven & { approvalId: string };
    }
  | { kind: 'execute_tool'; execId: string; tool: string; arguments: Record<string, unknown>; grant: unknown; idempotencyKey: string }
  | { kind: 'verify'; execId: string; claim: ClaimRef; call?: ClaimedCall }
  | { kind: 'review_requested'; review: OpenReview; reasons: Reason[]; state: Record<string, unknown> }
  | {
      kind: 'review_decided';
      reviewId: string;
      reviewKind: ReviewKind;
      stepId: string;
      decision: 'approved' | 'rejected' | 'edited' | 'supplied' | 'taken_over' | 'aborted' | 'escalated' | 'expired' | 'withdrawn';
      reviewer?: { id: string; name?: string; groups: string[] };
      reason?: string;
      digest?: string;
      level?: number;
      /** The review's risk tier (see OpenReview). */
      riskTier?: string;
      /** What the reviewer supplied or edited. */
      detail?: Record<string, unknown>;
    }
  | { kind: 'notify'; reviewId: string; reviewKind: ReviewKind; groups: string[]; event: 'arrived' | 'sla_near' | 'escalated'; level: number; dueAt: string | null }
  | { kind: 'complete'; outcome: RunOutcome; reasons: Reason[]; result?: Record<string, unknown> };

export interface TimerToSet {
  id: string;
  purpose: TimerPurpose;
  dueAt: Date;
  payload: Record<string, unknown>;
}

/** A step execution to insert or update (by id): the `run_steps` record. */
export interface StepExecution {
  id: string;
  stepId: string;
  attempt: number;
  status: 'running' | 'succeeded' | 'failed' | 'escalated' | 'cancelled';
  output?: Record<string, unknown> | null;
  reasons?: Reason[];
  dueAt?: Date | null;
  startedAt?: Date;
  endedAt?: Date | null;
  /** Digest of what the step was given (the action digest for an action step). */
  inputDigest?: string | null;
}

export interface TimelineLine {
  stepId: string | null;
  kind: string;
  detail: Record<string, unknown>;
}

/** A review input refused: the HTTP answer and nothing changed. */
export interface Refusal {
  status: 400 | 403 | 404 | 409;
  code: string;
  message: string;
  fields?: DefinitionProblem[];
}

export interface Advanced {
  run: WorkflowRun;
  commands: WorkflowCommand[];
  timers: TimerToSet[];
  cancelTimers: string[];
  executions: StepExecution[];
  timeline: TimelineLine[];
  /** True when the run's state changed and must be written. */
  changed: boolean;
  outcome?: RunOutcome;
  refused?: Refusal;
}

export interface AdvanceContext {
  now: Date;
  /** Fresh ids for review items. */
  newId(): string;
  slaWarningFraction?: number;
}

export const timerIds = {
  deadline: (runId: string) => `run_deadline:${runId}`,
  step: (runId: string, execId: string) => `step_timeout:${runId}:${execId}`,
  retry: (runId: string, execId: string) => `retry:${runId}:${execId}`,
  wait: (runId: string, execId: string) => `wait:${runId}:${execId}`,
  sla: (reviewId: string, level: number) => `review_sla:${reviewId}:${level}`,
  warning: (reviewId: string, level: number) => `review_warning:${reviewId}:${level}`,
  expiry: (reviewId: string) => `review_expiry:${reviewId}`,
};

/** Which decisions each kind of item allows. */
const DECISIONS: Record<ReviewKind | EscalationCase, ReviewDecision[]> = {
  approval: ['approve', 'reject', 'edit'],
  checkpoint: ['approve', 'reject', 'edit'],
  escalation: ['abort'],
  intent_held: ['approve', 'reject'],
  input_incomplete: ['supply', 'abort'],
  model_output_invalid: ['supply', 'retry', 'abort'],
  model_low_confidence: ['approve', 'supply', 'retry', 'abort'],
  tool_failed: ['retry', 'take_over', 'abort'],
  step_timed_out: ['retry', 'take_over', 'abort'],
  verification_mismatch: ['retry', 'take_over', 'abort'],
  expression_failed: ['take_over', 'abort'],
};

/** What an aborted or expired escalation ends the run as. */
const ABORT_OUTCOME: Record<EscalationCase, RunOutcome> = {
  intent_held: 'rejected',
  input_incomplete: 'failed',
  model_output_invalid: 'failed',
  model_low_confidence: 'failed',
  tool_failed: 'failed',
  step_timed_out: 'failed',
  verification_mismatch: 'verification_failed',
  expression_failed: 'failed',
};

/** Whether a reviewer may decide this item: authenticated, a reviewer, in a group of the item's level or above (and policy's), never the agent or the requester. */
export function reviewerProblem(run: Pick<WorkflowRun, 'agentId' | 'requester'>, review: OpenReview, reviewer: Reviewer): Refusal | null {
  if (reviewer.agentId !== undefined || reviewer.roles.includes('agent')) return { status: 403, code: 'reviewer_is_agent', message: 'an agent may not decide a review item; only a human reviewer may' };
  if (reviewer.id === run.requester) return { status: 403, code: 'reviewer_is_requester', message: 'the principal that submitted this work may not decide its own review item' };
  if (!reviewer.roles.includes('reviewer')) return { status: 403, code: 'role_required', message: 'deciding a review item needs the reviewer role' };
  const eligible = eligibleGroups(review);
  if (!reviewer.groups.some((g) => eligible.includes(g))) {
    return { status: 403, code: 'reviewer_not_in_group', message: `this item is decided by a reviewer in ${eligible.join(' or ')} (level ${review.level} of ${review.levels.length}); your groups: ${reviewer.groups.join(', ') || 'none'}` };
  }
  return null;
}

/** The id of one use of an approval: the review item and the step execution that proposes the action. */
export function approvalIdOf(reviewId: string, execId: string): string {
  return `${reviewId}#${execId.slice(execId.lastIndexOf('#') + 1)}`.slice(0, 64);
}

/** Groups that may decide now: the current level's and every level above it, narrowed to policy's approvers for an action. */
export function eligibleGroups(review: OpenReview): string[] {
  const groups = [...new Set(review.levels.slice(review.level - 1).flatMap((l) => l.groups))];
  return review.policyApprovers.length > 0 ? groups.filter((g) => review.policyApprovers.includes(g)) : groups;
}

/**
 * The workflow interpreter: given a definition, a run and one input, what the run becomes and
 * what it asks of the world. Pure: no clock but `ctx.now`, no ids but `ctx.newId`, no I/O. The
 * orchestrator loads the run, calls this and writes what it returns in one transaction.
 */
export function advance(workflow: CompiledWorkflow, current: WorkflowRun, input: WorkflowInput, ctx: AdvanceContext): Advanced {
  const run: WorkflowRun = structuredClone(current);
  const out: Advanced = { run, commands: [], timers: [], cancelTimers: [], executions: [], timeline: [], changed: false };
  const now = ctx.now;
  const iso = now.toISOString();
  const def = workflow.definition;

  const line = (stepId: string | null, kind: string, detail: Record<string, unknown> = {}) => out.timeline.push({ stepId, kind, detail });
  const change = () => (out.changed = true);
  const celContext = (extra: Record<string, unknown> = {}) => ({ input: run.input, steps: run.outputs, run: { id: run.runId, agentId: run.agentId, task: run.task }, action: {}, ...extra });

  const closeReview = (decision: Extract<WorkflowCommand, { kind: 'review_decided' }>['decision'], reviewer?: Reviewer, extra: { reason?: string; digest?: string; detail?: Record<string, unknown> } = {}) => {
    const review = run.review;
    if (!review) return;
    out.cancelTimers.push(timerIds.expiry(review.id), ...review.levels.flatMap((_, i) => [timerIds.sla(review.id, i + 1), timerIds.warning(review.id, i + 1)]));
    out.commands.push({
      kind: 'review_decided',
      reviewId: review.id,
      reviewKind: review.kind,
      stepId: review.execId ?? 'intent',
      decision,
      ...(reviewer ? { reviewer: { id: reviewer.id, ...(reviewer.name ? { name: reviewer.name } : {}), groups: [...reviewer.groups] } } : {}),
      ...(extra.reason ? { reason: extra.reason } : {}),
      ...(extra.digest ? { digest: extra.digest } : {}),
      ...(extra.detail ? { detail: extra.detail } : {}),
      level: review.level,
      ...(review.riskTier ? { riskTier: review.riskTier } : {}),
    });
    line(review.execId, `review_${decision}`, { reviewId: review.id, kind: review.kind, ...(reviewer ? { reviewer: reviewer.id } : {}), ...(extra.reason ? { reason: extra.reason } : {}) });
    run.review = null;
    change();
  };

  /** Executions this input finished: the run ending right after does not record them again. */
  const finished = new Set<string>();
  const finishExecution = (status: StepExecution['status'], output: Record<string, unknown> | null, reasons: Reason[] = []) => {
    const c = run.cursor;
    if (!c) return;
    finished.add(c.execId);
    out.executions.push({ id: c.execId, stepId: c.stepId, attempt: c.attempt, status, output, reasons, endedAt: now, dueAt: null });
    out.cancelTimers.push(timerIds.step(run.runId, c.execId), timerIds.retry(run.runId, c.execId), timerIds.wait(run.runId, c.execId));
  };

  const complete = (outcome: RunOutcome, reasons: Reason[]) => {
    if (run.review) closeReview('withdrawn', undefined, { reason: `the run ended ${outcome}` });
    if (run.cursor && run.cursor.phase !== 'pending' && !finished.has(run.cursor.execId)) finishExecution(outcome === 'verified' || outcome === 'succeeded' ? 'succeeded' : 'cancelled', null, reasons);
    run.cursor = null;
    run.status = 'completed';
    run.outcome = outcome;
    run.reasons = reasons;
    run.completedAt = iso;
    out.cancelTimers.push(timerIds.deadline(run.runId));
    out.commands.push({ kind: 'complete', outcome, reasons, ...(run.result ? { result: run.result } : {}) });
    line(null, `run_${outcome}`, { reasons });
    out.outcome = outcome;
    change();
  };

  /**
   * The run is paused (its agent suspended) and was about to go on inside a step: open a review,
   * execute a granted action, retry. It stops here instead — nothing is asked of a reviewer or done
   * for a suspended agent — and the step starts again (a new execution, the same idempotency key)
   * when the run resumes; one paused before its first step begins again on resume.
   */
  const park = (instead: string, endExecution = true) => {
    const c = run.cursor;
    if (c) {
      if (endExecution && ['requested', 'deciding', 'executing', 'reviewing'].includes(c.phase) && !finished.has(c.execId)) {
        finishExecution('cancelled', null, [{ code: 'run_paused', message: `the run was paused (its agent is suspended) before its ${instead}; the step starts again when it resumes` }]);
      }
      c.phase = 'pending';
    }
    run.status = 'paused';
    line(c?.execId || null, 'run_paused_in_step', { step: c?.stepId ?? null, instead });
    change();
  };

  /** The verifier's reasons when the run ends right after its confirmation: they say what was read back. */
  let verifiedJustNow: Reason[] | undefined;

  /** The workflow reached its end: done means verified. */
  const finish = () => {
    const claims = Object.entries(run.claims);
    const unverified = claims.filter(([, c]) => c.verified === 'pending').map(([step]) => step);
    if (unverified.length > 0) {
      complete('verification_failed', [{ code: 'unverified_claims', message: `the workflow ended without verifying what step(s) ${unverified.join(', ')} claimed; done means verified` }]);
    } else if (run.overrides.length > 0) {
      complete('succeeded', [{ code: 'completed_with_reviewer_overrides', message: `the workflow finished; a reviewer recorded the outcome of step(s) ${run.overrides.join(', ')} themselves` }]);
    } else if (claims.length > 0) {
      complete('verified', [{ code: 'verified', message: `the system of record confirmed what step(s) ${claims.map(([s]) => s).join(', ')} did` }, ...(verifiedJustNow ?? [])]);
    } else {
      complete('succeeded', [{ code: 'completed', message: 'the workflow finished; no step changed or read a system of record that needed verifying' }]);
    }
  };

  const nextOf = (step: WorkflowStep): string | undefined => (step.next === 'end' ? undefined : (step.next ?? workflow.following(step.id)));

  const stepTimer = (execId: string, step: WorkflowStep) => {
    const dueAt = new Date(now.getTime() + (step.timeoutSeconds ?? WORKFLOW_DEFAULTS.stepTimeoutSeconds) * 1000);
    out.timers.push({ id: timerIds.step(run.runId, execId), purpose: 'step_timeout', dueAt, payload: { execId } });
    return dueAt;
  };

  /** Starts a step (a new execution), or ends the workflow when there is none. */
  const startStep = (stepId: string | undefined, attempt = 1, keep?: Pick<StepCursor, 'idempotencyKey' | 'approval'>) => {
    if (stepId === undefined) return finish();
    const step = workflow.steps.get(stepId)!;
    if (run.paused && attempt === 1) {
      run.cursor = { stepId, execId: '', attempt: 0, phase: 'pending' };
      run.status = 'paused';
      line(stepId, 'run_paused_before_step', {});
      return change();
    }
    if (run.executions >= WORKFLOW_DEFAULTS.maxExecutions) {
      return complete('failed', [{ code: 'too_many_steps', message: `the run executed ${run.executions} steps; a workflow that loops this long is stopped` }]);
    }
    run.executions += 1;
    const execId = `${stepId}#${run.executions}`;
    run.cursor = { stepId, execId, attempt, phase: 'requested', ...(keep?.idempotencyKey ? { idempotencyKey: keep.idempotencyKey } : {}), ...(keep?.approval ? { approval: keep.approval } : {}) };
    run.status = 'running';
    change();
    const started = (dueAt: Date | null, inputDigest: string | null = null) =>
      out.executions.push({ id: execId, stepId, attempt, status: 'running', startedAt: now, dueAt, inputDigest, output: null, reasons: [] });
    line(execId, 'step_started', { step: stepId, kind: step.kind, attempt });

    switch (step.kind) {
      case 'context': {
        let query = run.task;
        if (step.query) {
          const value = evaluateOrEscalate(step.query, 'query');
          if (value === undefined) return;
          query = String(value).slice(0, 4000) || run.task;
        }
        started(stepTimer(execId, step));
        out.commands.push({ kind: 'retrieve', execId, query, limit: step.limit ?? WORKFLOW_DEFAULTS.contextLimit });
        return;
      }
      case 'model': {
        started(stepTimer(execId, step));
        out.commands.push({
          kind: 'call_model',
          execId,
          ...(step.instructions ? { instructions: step.instructions } : {}),
          ...(step.outputSchema ? { outputSchema: step.outputSchema } : {}),
          risk: step.risk ?? riskOfTask(run.input),
          steps: run.outputs,
        });
        return;
      }
      case 'action': {
        const action = actionOf(step);
        if (!action) return;
        run.cursor.action = action;
        run.cursor.phase = 'deciding';
        run.cursor.idempotencyKey ??= `${run.runId}/${execId}`;
        started(stepTimer(execId, step), action.digest);
        // A retry of exactly the approved action carries the approval again; any other action is decided afresh.
        const approval = run.cursor.approval?.digest === action.digest ? run.cursor.approval : undefined;
        if (!approval) delete run.cursor.approval;
        out.commands.push({
          kind: 'propose_action',
          execId,
          tool: action.tool,
          arguments: action.arguments,
          ...(action.rationale ? { rationale: action.rationale } : {}),
          ...(def.tier ? { tier: def.tier } : {}),
          ...(approval ? { approval: { ...approval, approvalId: approvalIdOf(approval.reviewId, execId) } } : {}),
        });
        return;
      }
      case 'checkpoint': {
        started(null);
        openReview('checkpoint', step.review, { reasons: [{ code: 'checkpoint', message: step.instructions ?? `checkpoint ${step.id}: a reviewer decides before the workflow goes on` }] });
        return;
      }
      case 'verify': {
        const of = step.of ?? Object.keys(run.claims).at(-1);
        const claim = of ? run.claims[of]?.claim : undefined;
        if (!claim && step.of && run.overrides.includes(step.of)) {
          // A reviewer took the action over and recorded its outcome: nothing to verify, and the run can end `succeeded`, never `verified`.
          started(null);
          line(execId, 'verification_skipped', { of: step.of, reason: 'a reviewer took the step over' });
          return stepDone(step, { verdict: 'taken_over', of: step.of });
        }
        if (!of || !claim) {
          started(null);
          return complete('verification_failed', [{ code: 'nothing_to_verify', message: `step ${step.id} found no claim to verify${step.of ? ` from step ${step.of}` : ''}; done means verified` }]);
        }
        started(stepTimer(execId, step));
        const call = run.claims[of]?.call;
        out.commands.push({ kind: 'verify', execId, claim, ...(call ? { call } : {}) });
        return;
      }
      case 'branch': {
        started(null);
        for (const c of step.cases) {
          const value = evaluateOrEscalate(c.when, 'condition');
          if (value === undefined) return;
          if (value === true) {
            line(execId, 'branch_taken', { when: c.when, next: c.next });
            finishExecution('succeeded', { next: c.next });
            run.outputs[step.id] = { next: c.next };
            return startStep(c.next === 'end' ? undefined : c.next);
          }
        }
        line(execId, 'branch_default', { next: step.default });
        finishExecution('succeeded', { next: step.default });
        run.outputs[step.id] = { next: step.default };
        return startStep(step.default === 'end' ? undefined : step.default);
      }
      case 'wait': {
        const dueAt = new Date(now.getTime() + step.seconds * 1000);
        run.cursor.phase = 'waiting';
        started(dueAt);
        out.timers.push({ id: timerIds.wait(run.runId, execId), purpose: 'wait', dueAt, payload: { execId } });
        return;
      }
    }
  };

  /** A CEL value, or undefined after escalating the failure with the run's state. */
  function evaluateOrEscalate(expression: string, what: string): unknown {
    try {
      return workflow.evaluate(expression, celContext());
    } catch (err) {
      escalate('expression_failed', [{ code: 'expression_failed', message: `the ${what} \`${expression}\` could not be evaluated: ${(err as Error).message.split('\n')[0].slice(0, 300)}` }]);
      return undefined;
    }
  }

  function actionOf(step: StepOf<'action'>): ProposedAction | undefined {
    let tool: string;
    let args: Record<string, unknown>;
    let rationale: string | undefined;
    if (step.from) {
      const source = run.outputs[step.from] as { proposal?: { kind: string; tool?: string; arguments?: Record<string, unknown>; rationale?: string } } | undefined;
      const proposal = source?.proposal;
      if (!proposal || proposal.kind !== 'tool_call' || !proposal.tool) {
        complete('failed', [{ code: 'no_action_proposed', message: `step ${step.from} proposed no tool call for step ${step.id}${proposal?.rationale ? `: ${proposal.rationale}` : ''}` }]);
        return undefined;
      }
      tool = proposal.tool;
      args = proposal.arguments ?? {};
      rationale = proposal.rationale;
    } else {
      tool = step.tool!;
      args = {};
      for (const [name, expression] of Object.entries(step.arguments ?? {})) {
        const value = evaluateOrEscalate(expression, `argument ${name}`);
        if (value === undefined) return undefined;
        args[name] = typeof value === 'bigint' ? Number(value) : value;
      }
    }
    return { tool, arguments: args, ...(rationale ? { rationale } : {}), digest: approvalDigest({ agentId: run.agentId, agentVersion: run.agentVersion ?? '', tool, arguments: args }) };
  }

  /** Opens a review item at the level its routes pick, with its timers and notifications. */
  function openReview(kind: ReviewKind, spec: ReviewSpec, options: { reasons: Reason[]; escalationCase?: EscalationCase; policyApprovers?: string[]; detail?: Record<string, unknown>; riskTier?: string }) {
    // An escalation already recorded its execution as escalated.
    if (run.paused) return park(options.escalationCase === 'intent_held' ? 'intent_held' : kind, kind !== 'escalation');
    let level = 1;
    for (const route of spec.routes ?? []) {
      try {
        if (workflow.evaluate(route.when, celContext({ action: run.cursor?.action ? { tool: run.cursor.action.tool, arguments: run.cursor.action.arguments } : {} })) === true) {
          level = route.level;
          break;
        }
      } catch {
        // A route that cannot be evaluated does not apply: the item starts lower and is escalated by time.
      }
    }
    const id = ctx.newId();
    const expiresAt = spec.expiresAfterSeconds ? new Date(now.getTime() + spec.expiresAfterSeconds * 1000) : null;
    const c = run.cursor;
    const decisions = options.escalationCase ? DECISIONS[options.escalationCase] : kind === 'checkpoint' && !workflow.definition.steps.find((s) => s.id === c?.stepId && s.kind === 'checkpoint' && s.editSchema) ? ['approve', 'reject'] as ReviewDecision[] : DECISIONS[kind];
    run.review = {
      id,
      kind,
      stepId: c?.stepId ?? null,
      execId: c?.execId ?? null,
      ...(options.escalationCase ? { escalationCase: options.escalationCase } : {}),
      level,
      levels: spec.levels,
      policyApprovers: options.policyApprovers ?? [],
      ...(c?.action && kind === 'approval' ? { digest: c.action.digest } : {}),
      ...((options.riskTier ?? def.tier) ? { riskTier: options.riskTier ?? def.tier } : {}),
      requestedAt: iso,
      dueAt: new Date(now.getTime() + spec.levels[level - 1].slaSeconds * 1000).toISOString(),
      expiresAt: expiresAt?.toISOString() ?? null,
      onExpiry: spec.onExpiry ?? 'fail',
      decisions,
    };
    if (c) c.phase = 'reviewing';
    run.status = kind === 'escalation' ? 'escalated' : 'awaiting_approval';
    change();
    if (expiresAt) out.timers.push({ id: timerIds.expiry(id), purpose: 'review_expiry', dueAt: expiresAt, payload: { reviewId: id } });
    levelTimers(run.review);
    out.commands.push({ kind: 'review_requested', review: run.review, reasons: options.reasons, state: fullState(options.reasons, options.detail) });
    out.commands.push({ kind: 'notify', reviewId: id, reviewKind: kind, groups: eligibleGroups(run.review), event: 'arrived', level, dueAt: slaDue(run.review).toISOString() });
    line(c?.execId ?? null, `${kind}_requested`, { reviewId: id, level, groups: eligibleGroups(run.review), ...(options.escalationCase ? { case: options.escalationCase } : {}), reasons: options.reasons });
  }

  function slaDue(review: OpenReview): Date {
    return new Date(now.getTime() + review.levels[review.level - 1].slaSeconds * 1000);
  }

  function levelTimers(review: OpenReview) {
    const sla = review.levels[review.level - 1].slaSeconds;
    out.timers.push({ id: timerIds.sla(review.id, review.level), purpose: 'review_sla', dueAt: slaDue(review), payload: { reviewId: review.id, level: review.level } });
    const fraction = ctx.slaWarningFraction ?? WORKFLOW_DEFAULTS.slaWarningFraction;
    if (fraction > 0 && fraction < 1) {
      out.timers.push({ id: timerIds.warning(review.id, review.level), purpose: 'review_warning', dueAt: new Date(now.getTime() + sla * fraction * 1000), payload: { reviewId: review.id, level: review.level } });
    }
  }

  /** The whole state a reviewer needs: inputs, what earlier steps found (citations, model rationale and confidence), the action and its digest, policy's reasons, the requester. */
  function fullState(reasons: Reason[], detail?: Record<string, unknown>): Record<string, unknown> {
    const c = run.cursor;
    return {
      task: run.task,
      input: run.input,
      requester: run.requester,
      agent: { id: run.agentId, version: run.agentVersion },
      workflow: { id: def.id, version: def.version, ...(def.tier ? { tier: def.tier } : {}) },
      step: c ? { id: c.stepId, execution: c.execId, attempt: c.attempt, kind: workflow.steps.get(c.stepId)?.kind } : null,
      steps: run.outputs,
      ...(c?.action ? { proposedAction: c.action } : {}),
      reasons,
      ...(detail ?? {}),
    };
  }

  function escalate(escalationCase: EscalationCase, reasons: Reason[], detail?: Record<string, unknown>) {
    if (run.cursor && run.cursor.phase !== 'pending') out.executions.push({ id: run.cursor.execId, stepId: run.cursor.stepId, attempt: run.cursor.attempt, status: 'escalated', reasons, dueAt: null });
    if (run.cursor) out.cancelTimers.push(timerIds.step(run.runId, run.cursor.execId));
    openReview('escalation', def.escalation, { reasons, escalationCase, detail: { escalation: { case: escalationCase }, ...(detail ?? {}) } });
  }

  /** An attempt failed: retry under the step's policy, or escalate with the state. */
  function attemptFailed(step: WorkflowStep, reasons: Reason[], escalationCase: EscalationCase, detail?: Record<string, unknown>) {
    const c = run.cursor!;
    const retry = step.retry;
    if (retry && c.attempt < retry.maxAttempts) {
      const wait = retry.backoffSeconds * (retry.multiplier ?? 2) ** (c.attempt - 1);
      out.executions.push({ id: c.execId, stepId: c.stepId, attempt: c.attempt, status: 'failed', reasons, endedAt: now, dueAt: null });
      out.cancelTimers.push(timerIds.step(run.runId, c.execId));
      c.phase = 'backoff';
      out.timers.push({ id: timerIds.retry(run.runId, c.execId), purpose: 'retry', dueAt: new Date(now.getTime() + wait * 1000), payload: { execId: c.execId } });
      line(c.execId, 'retry_scheduled', { attempt: c.attempt, nextAttempt: c.attempt + 1, inSeconds: wait, reasons });
      change();
      return;
    }
    escalate(escalationCase, reasons, detail);
  }

  /** Policy held the intent: a human lets the run begin, or not. */
  function holdIntent(held: NonNullable<WorkflowRun['heldIntent']>) {
    openReview(held.effect === 'require_approval' ? 'approval' : 'escalation', def.escalation, { reasons: held.reasons, escalationCase: 'intent_held', detail: { policy: { effect: held.effect, reasons: held.reasons, policyVersion: held.policyVersion } } });
  }

  /** The run may begin: its input must match what the workflow needs, or a human supplies what is missing. */
  function beginWorkflow() {
    const problems = workflow.check(schemaKeys.input, run.input);
    if (problems) {
      escalate('input_incomplete', [{ code: 'input_incomplete', message: `the input does not match what workflow ${def.id} needs: ${problems.map((p) => `${p.field} ${p.problem}`).join('; ')}` }], { problems });
      return;
    }
    startStep(def.steps[0].id);
  }

  /** The step finished: record its output and move on. */
  function stepDone(step: WorkflowStep, output: Record<string, unknown> | null) {
    finishExecution('succeeded', output);
    if (output) run.outputs[step.id] = output;
    startStep(nextOf(step));
  }

  // ---------------------------------------------------------------------------------------------

  if (run.status === 'completed' && input.kind !== 'review') {
    line(run.cursor?.execId ?? null, 'input_ignored', { input: input.kind, reason: `run is ${run.outcome}` });
    return out;
  }

  switch (input.kind) {
    case 'start': {
      if (run.status !== 'pending') return ignored(`run is ${run.status}`);
      line(null, 'policy_allow', {});
      beginWorkflow();
      return out;
    }
    case 'intent_held': {
      if (run.status !== 'pending') return ignored(`run is ${run.status}`);
      run.heldIntent = { effect: input.effect, reasons: input.reasons, policyVersion: input.policyVersion };
      holdIntent(run.heldIntent);
      return out;
    }
    case 'denied': {
      if (run.status !== 'pending') return ignored(`run is ${run.status}`);
      line(null, 'policy_deny', { reasons: input.reasons, policyVersion: input.policyVersion });
      complete('denied', input.reasons);
      return out;
    }
    case 'cancel':
      complete('cancelled', [input.reason]);
      return out;
    case 'pause': {
      if (run.paused) return ignored('run is already paused');
      run.paused = true;
      change();
      line(run.cursor?.execId ?? null, 'run_pause_requested', { reason: input.reason });
      // An open review is withdrawn: nobody decides anything for a suspended agent. On resume a step starts
      // again (an action is proposed to policy again, which asks for a new approval) and a review of the
      // intent itself is asked again (its hold is kept in heldIntent; its input is checked again), so
      // resuming never skips it. A hold recorded before heldIntent existed stays open, undecidable while paused.
      const review = run.review;
      if (review && (run.cursor || review.escalationCase !== 'intent_held' || run.heldIntent)) {
        closeReview('withdrawn', undefined, { reason: input.reason.message });
        if (run.cursor) {
          if (review.kind !== 'escalation') finishExecution('cancelled', null, [input.reason]);
          run.cursor.phase = 'pending';
        }
        run.status = 'paused';
      }
      return out;
    }
    case 'resume': {
      if (!run.paused) return ignored('run is not paused');
      run.paused = false;
      change();
      line(null, 'run_resumed', {});
      if (run.status === 'paused') {
        const paused = run.cursor;
        run.cursor = null;
        // A resumed action keeps its idempotency key, not an approval given before the suspension: policy decides afresh.
        if (paused) startStep(paused.stepId, 1, { idempotencyKey: paused.idempotencyKey });
        else {
          // Stopped before its first step: a hold of the intent is asked again, the input checked again.
          run.status = 'pending';
          if (run.heldIntent) holdIntent(run.heldIntent);
          else beginWorkflow();
        }
      }
      return out;
    }
    case 'timer':
      return onTimer(input);
    case 'review':
      return onReview(input);
    default:
      return onReply(input);
  }

  function ignored(reason: string): Advanced {
    line(run.cursor?.execId ?? null, 'input_ignored', { input: input.kind, reason });
    return out;
  }

  function onReply(reply: Extract<WorkflowInput, { execId: string }>): Advanced {
    const c = run.cursor;
    const expecting: Record<string, StepCursor['phase'][]> = {
      context_retrieved: ['requested'],
      model_completed: ['requested'],
      action_decided: ['deciding'],
      tool_executed: ['executing'],
      verification_completed: ['requested'],
    };
    if (!c || c.execId !== reply.execId || !expecting[reply.kind].includes(c.phase)) {
      line(reply.execId, 'reply_ignored', { reply: reply.kind, reason: c ? `the run waits for ${c.execId} (${c.phase}), not this reply` : `run is ${run.status}` });
      return out;
    }
    const step = workflow.steps.get(c.stepId)!;
    switch (reply.kind) {
      case 'context_retrieved': {
        line(c.execId, 'context_retrieved', { citations: reply.citations.map((x) => ({ documentId: x['documentId'], source: x['source'] })), withheld: reply.withheld });
        stepDone(step, { citations: reply.citations, withheld: reply.withheld });
        return out;
      }
      case 'model_completed': {
        const s = step as StepOf<'model'>;
        line(c.execId, 'model_completed', { model: reply.model, confidence: reply.confidence, ...(s.outputSchema ? {} : { proposal: reply.proposal }) });
        const meta = { model: reply.model, confidence: reply.confidence, rationale: reply.proposal.rationale };
        if (s.outputSchema) {
          const problems = reply.output ? workflow.check(schemaKeys.output(s.id), reply.output) : [{ field: '/', problem: 'no structured output' }];
          if (problems) {
            attemptFailed(s, [{ code: 'model_output_invalid', message: `the model's output does not match the step's schema: ${problems.map((p) => `${p.field} ${p.problem}`).join('; ')}` }], 'model_output_invalid', { model: { ...meta, output: reply.output ?? null, problems } });
            return out;
          }
        } else if (reply.proposal.kind === 'no_action' && reply.reasons && reply.reasons.length > 0) {
          // The model did propose something, and the router refused it: an edge case for a human, not a quiet end.
          attemptFailed(s, reply.reasons, 'model_output_invalid', { model: { ...meta, refused: reply.reasons } });
          return out;
        } else if (reply.proposal.kind === 'no_action') {
          finishExecution('failed', { proposal: reply.proposal, ...meta });
          complete('failed', [{ code: 'no_action_proposed', message: `the model proposed no action: ${reply.proposal.rationale}` }]);
          return out;
        }
        const output = s.outputSchema ? { ...reply.output } : { proposal: reply.proposal, ...meta };
        if (s.minConfidence !== undefined && reply.confidence < s.minConfidence) {
          run.outputs[s.id] = output;
          escalate('model_low_confidence', [{ code: 'model_low_confidence', message: `the model's confidence ${reply.confidence} is below the step's threshold ${s.minConfidence}` }], { model: { ...meta, output } });
          return out;
        }
        stepDone(s, output);
        return out;
      }
      case 'action_decided': {
        line(c.execId, `action_${reply.effect}`, { reasons: reply.reasons, policyVersion: reply.policyVersion, ...(reply.effectiveTier ? { effectiveTier: reply.effectiveTier } : {}) });
        if (reply.effect === 'deny') {
          finishExecution('failed', null, reply.reasons);
          complete('denied', reply.reasons);
        } else if (reply.effect === 'allow') {
          if (!reply.grant) {
            complete('failed', [{ code: 'grant_missing', message: 'policy allowed the action but issued no grant' }]);
            return out;
          }
          if (run.paused) {
            // Its agent was suspended while policy decided: the grant goes unused (the gateway would refuse it anyway).
            park('execute');
            return out;
          }
          c.phase = 'executing';
          change();
          stepTimer(c.execId, step);
          out.commands.push({ kind: 'execute_tool', execId: c.execId, tool: c.action!.tool, arguments: c.action!.arguments, grant: reply.grant, idempotencyKey: c.idempotencyKey ?? `${run.runId}/${c.execId}` });
        } else {
          out.cancelTimers.push(timerIds.step(run.runId, c.execId));
          const s = step as StepOf<'action'>;
          const approvers = reply.approvers ?? [];
          const spec: ReviewSpec = s.approval ?? {
            levels: [{ name: 'approvers', groups: approvers.length > 0 ? approvers : def.escalation.levels[0].groups, slaSeconds: WORKFLOW_DEFAULTS.reviewSlaSeconds }],
            onExpiry: 'fail',
          };
          openReview('approval', spec, {
            reasons: reply.reasons,
            policyApprovers: approvers,
            ...(reply.effectiveTier ? { riskTier: reply.effectiveTier } : {}),
            detail: { policy: { effect: reply.effect, reasons: reply.reasons, policyVersion: reply.policyVersion, ...(reply.effectiveTier ? { effectiveTier: reply.effectiveTier } : {}) } },
          });
        }
        return out;
      }
      case 'tool_executed': {
        line(c.execId, `tool_${reply.status}`, { executionId: reply.executionId, reasons: reply.reasons });
        if (reply.status === 'rejected') {
          finishExecution('failed', null, reply.reasons);
          complete('failed', reply.reasons.length ? reply.reasons : [{ code: 'tool_rejected', message: 'the gateway refused the call' }]);
          return out;
        }
        if (reply.status === 'failed' && !step.retry) {
          // A step with no retry policy treats a tool's failure as final: the run fails with its reasons.
          finishExecution('failed', null, reply.reasons);
          complete('failed', reply.reasons.length ? reply.reasons : [{ code: 'tool_failed', message: 'the tool failed' }]);
          return out;
        }
        if (reply.status === 'failed') {
          const reasons = reply.reasons.length ? reply.reasons : [{ code: 'tool_failed', message: 'the tool failed' }];
          const detail = { tool: { name: c.action?.tool, executionId: reply.executionId, reasons: reply.reasons, retryable: reply.retryable === true } };
          // Only a failure the gateway calls retryable is tried again; any other goes to a human at once.
          if (reply.retryable === true) attemptFailed(step, reasons, 'tool_failed', detail);
          else escalate('tool_failed', reasons, detail);
          return out;
        }
        run.result = reply.output ?? {};
        if (reply.claim) {
          const call = c.action ? { tool: c.action.tool, executionId: reply.executionId, arguments: c.action.arguments, ...(reply.output ? { output: reply.output } : {}) } : undefined;
          run.claims[step.id] = { claim: reply.claim, verified: 'pending', ...(call ? { call } : {}) };
        }
        stepDone(step, reply.output ?? {});
        return out;
      }
      case 'verification_completed': {
        const s = step as StepOf<'verify'>;
        const of = s.of ?? Object.keys(run.claims).at(-1)!;
        line(c.execId, `verification_${reply.verdict}`, { of, reasons: reply.reasons });
        if (reply.verdict === 'confirmed') {
          if (run.claims[of]) run.claims[of].verified = 'confirmed';
          verifiedJustNow = reply.reasons;
          stepDone(s, { verdict: reply.verdict, ...(reply.observed ? { observed: reply.observed } : {}) });
          return out;
        }
        attemptFailed(s, reply.reasons, 'verification_mismatch', { verification: { of, claim: run.claims[of]?.claim, verdict: reply.verdict, observed: reply.observed ?? null, reasons: reply.reasons } });
        return out;
      }
    }
  }

  function onTimer(timer: Extract<WorkflowInput, { kind: 'timer' }>): Advanced {
    const c = run.cursor;
    const review = run.review;
    switch (timer.purpose) {
      case 'run_deadline':
        line(c?.execId ?? null, 'deadline_passed', { deadlineAt: run.deadlineAt });
        complete('timed_out', [{ code: 'deadline_passed', message: `the run did not finish by its deadline ${run.deadlineAt} (while ${run.status}${c ? ` at step ${c.stepId}` : ''})` }]);
        return out;
      case 'step_timeout': {
        if (!c || c.execId !== timer.payload['execId'] || !['requested', 'deciding', 'executing'].includes(c.phase)) return ignored('the step it timed has moved on');
        const step = workflow.steps.get(c.stepId)!;
        attemptFailed(step, [{ code: 'step_timed_out', message: `step ${c.stepId} got no reply within ${step.timeoutSeconds ?? WORKFLOW_DEFAULTS.stepTimeoutSeconds} s (attempt ${c.attempt}, ${c.phase})` }], c.phase === 'executing' ? 'tool_failed' : 'step_timed_out');
        return out;
      }
      case 'retry': {
        if (!c || c.execId !== timer.payload['execId'] || c.phase !== 'backoff') return ignored('no retry is due');
        if (run.paused) {
          park('retry');
          return out;
        }
        startStep(c.stepId, c.attempt + 1, { idempotencyKey: c.idempotencyKey, approval: c.approval });
        return out;
      }
      case 'wait': {
        if (!c || c.execId !== timer.payload['execId'] || c.phase !== 'waiting') return ignored('no wait is due');
        stepDone(workflow.steps.get(c.stepId)!, { waitedUntil: iso });
        return out;
      }
      case 'review_warning': {
        if (!review || review.id !== timer.payload['reviewId'] || review.level !== timer.payload['level']) return ignored('the item was decided or moved');
        out.commands.push({ kind: 'notify', reviewId: review.id, reviewKind: review.kind, groups: eligibleGroups(review), event: 'sla_near', level: review.level, dueAt: review.dueAt });
        line(review.execId, 'review_sla_near', { reviewId: review.id, level: review.level });
        return out;
      }
      case 'review_sla':
      case 'review_expiry': {
        if (!review || review.id !== timer.payload['reviewId']) return ignored('the item was decided');
        if (timer.purpose === 'review_sla' && review.level !== timer.payload['level']) return ignored('the item already moved up');
        const moveUp = review.level < review.levels.length && (timer.purpose === 'review_sla' || review.onExpiry === 'escalate');
        if (moveUp) {
          out.cancelTimers.push(timerIds.sla(review.id, review.level), timerIds.warning(review.id, review.level));
          review.level += 1;
          review.dueAt = slaDue(review).toISOString();
          if (timer.purpose === 'review_expiry') {
            const expiresAt = slaDue(review);
            review.expiresAt = expiresAt.toISOString();
            out.timers.push({ id: timerIds.expiry(review.id), purpose: 'review_expiry', dueAt: expiresAt, payload: { reviewId: review.id } });
          }
          levelTimers(review);
          change();
          out.commands.push({ kind: 'review_decided', reviewId: review.id, reviewKind: review.kind, stepId: review.execId ?? 'intent', decision: 'escalated', reason: timer.purpose === 'review_sla' ? 'nobody decided within the SLA' : 'the item expired at its level', level: review.level, ...(review.riskTier ? { riskTier: review.riskTier } : {}) });
          out.commands.push({ kind: 'notify', reviewId: review.id, reviewKind: review.kind, groups: eligibleGroups(review), event: 'escalated', level: review.level, dueAt: slaDue(review).toISOString() });
          line(review.execId, 'review_escalated', { reviewId: review.id, level: review.level, groups: eligibleGroups(review) });
          return out;
        }
        const what = review.kind === 'escalation' ? `escalation (${review.escalationCase})` : review.kind;
        closeReview('expired', undefined, { reason: 'nobody decided in time' });
        complete('expired', [{ code: `${review.kind}_expired`, message: `the ${what} ${review.id} was not decided in time (level ${review.level} of ${review.levels.length}); the run fails closed, nothing is approved by default` }]);
        return out;
      }
    }
  }

  function onReview(decision: Extract<WorkflowInput, { kind: 'review' }>): Advanced {
    const review = run.review;
    const refuse = (refusal: Refusal): Advanced => ({ ...out, run: current, changed: false, commands: [], timers: [], cancelTimers: [], executions: [], timeline: [], refused: refusal });
    if (!review || review.id !== decision.reviewId) return refuse({ status: 409, code: 'review_closed', message: `review item ${decision.reviewId} is no longer open: it was decided, moved on or withdrawn` });
    const who = reviewerProblem(run, review, decision.reviewer);
    if (who) return refuse(who);
    if (run.paused) return refuse({ status: 409, code: 'run_paused', message: `the run is paused (its agent is suspended): review item ${review.id} cannot be decided until it resumes` });
    if (review.expiresAt && Date.parse(review.expiresAt) <= now.getTime()) return refuse({ status: 409, code: 'review_expired', message: `review item ${review.id} expired at ${review.expiresAt}` });
    if (!review.decisions.includes(decision.decision)) {
      return refuse({ status: 400, code: 'decision_not_allowed', message: `a ${review.kind}${review.escalationCase ? ` (${review.escalationCase})` : ''} may be decided with: ${review.decisions.join(', ')}` });
    }
    const c = run.cursor;
    const step = c ? workflow.steps.get(c.stepId) : undefined;
    const reviewer = decision.reviewer;
    const attested = { id: reviewer.id, ...(reviewer.name ? { name: reviewer.name } : {}), groups: [...reviewer.groups] };
    const reason = decision.reason;

    if (decision.decision === 'reject' || decision.decision === 'abort') {
      closeReview(decision.decision === 'reject' ? 'rejected' : 'aborted', reviewer, { ...(reason ? { reason } : {}) });
      const outcome: RunOutcome = review.escalationCase ? ABORT_OUTCOME[review.escalationCase] : 'rejected';
      complete(outcome, [{ code: decision.decision === 'reject' ? `${review.kind}_rejected` : 'escalation_aborted', message: `${reviewer.name ?? reviewer.id} ${decision.decision === 'reject' ? 'rejected' : 'aborted'} it${reason ? `: ${reason}` : ''}` }]);
      return out;
    }

    switch (review.escalationCase ?? review.kind) {
      case 'approval': {
        let action = c!.action!;
        if (decision.decision === 'edit') {
          if (!decision.arguments) return refuse({ status: 400, code: 'arguments_required', message: 'an edit-and-approve gives the action arguments to approve instead' });
          action = { tool: action.tool, arguments: decision.arguments, ...(action.rationale ? { rationale: action.rationale } : {}), digest: approvalDigest({ agentId: run.agentId, agentVersion: run.agentVersion ?? '', tool: action.tool, arguments: decision.arguments }) };
          c!.action = action;
          out.executions.push({ id: c!.execId, stepId: c!.stepId, attempt: c!.attempt, status: 'running', inputDigest: action.digest, dueAt: null });
        }
        closeReview(decision.decision === 'edit' ? 'edited' : 'approved', reviewer, { ...(reason ? { reason } : {}), digest: action.digest, ...(decision.decision === 'edit' ? { detail: { arguments: action.arguments } } : {}) });
        // Policy decides again — an edit is a new action — and grants only the digest the reviewer approved.
        c!.phase = 'deciding';
        c!.approval = { reviewId: review.id, digest: action.digest, reviewer: attested, decidedAt: iso };
        run.status = 'running';
        stepTimer(c!.execId, step!);
        out.commands.push({
          kind: 'propose_action',
          execId: c!.execId,
          tool: action.tool,
          arguments: action.arguments,
          ...(action.rationale ? { rationale: action.rationale } : {}),
          ...(def.tier ? { tier: def.tier } : {}),
          approval: { ...c!.approval, approvalId: approvalIdOf(review.id, c!.execId) },
        });
        return out;
      }
      case 'checkpoint': {
        let output: Record<string, unknown> = { decision: 'approved', reviewer: reviewer.id };
        if (decision.decision === 'edit') {
          if (!decision.output) return refuse({ status: 400, code: 'output_required', message: 'an edit gives the output to continue with' });
          const problems = workflow.check(schemaKeys.edit(step!.id), decision.output);
          if (problems) return refuse({ status: 400, code: 'output_invalid', message: "the edited output does not match the checkpoint's edit schema", fields: problems });
          output = { ...decision.output, decision: 'edited', reviewer: reviewer.id };
        }
        closeReview(decision.decision === 'edit' ? 'edited' : 'approved', reviewer, { ...(reason ? { reason } : {}), ...(decision.output ? { detail: decision.output } : {}) });
        run.status = 'running';
        stepDone(step!, output);
        return out;
      }
      case 'intent_held': {
        closeReview('approved', reviewer, { ...(reason ? { reason } : {}) });
        delete run.heldIntent;
        run.status = 'pending';
        beginWorkflow();
        return out;
      }
      case 'input_incomplete': {
        if (!decision.input) return refuse({ status: 400, code: 'input_required', message: 'supply the missing input fields as `input`' });
        const merged = { ...run.input, ...decision.input };
        const problems = workflow.check(schemaKeys.input, merged);
        if (problems) return refuse({ status: 400, code: 'input_still_incomplete', message: 'the supplied input still does not match the workflow', fields: problems });
        run.input = merged;
        closeReview('supplied', reviewer, { ...(reason ? { reason } : {}), detail: { input: decision.input } });
        run.status = 'pending';
        startStep(def.steps[0].id);
        return out;
      }
      default: {
        // An edge case inside a step: retry it, accept or supply its output, or take it over.
        const escalationCase = review.escalationCase!;
        if (decision.decision === 'retry') {
          closeReview('approved', reviewer, { reason: reason ?? 'retry' });
          run.status = 'running';
          if (escalationCase === 'verification_mismatch') {
            startStep(c!.stepId);
          } else {
            startStep(c!.stepId, 1, { idempotencyKey: c!.idempotencyKey });
          }
          return out;
        }
        if (decision.decision === 'approve') {
          // Accept the model's answer despite its low confidence.
          closeReview('approved', reviewer, { ...(reason ? { reason } : {}) });
          run.status = 'running';
          stepDone(step!, (run.outputs[step!.id] as Record<string, unknown>) ?? {});
          return out;
        }
        if (!decision.output) return refuse({ status: 400, code: 'output_required', message: `${decision.decision === 'supply' ? 'supply' : 'take over'} gives the step's output as \`output\`` });
        if (step?.kind === 'model' && step.outputSchema) {
          const problems = workflow.check(schemaKeys.output(step.id), decision.output);
          if (problems) return refuse({ status: 400, code: 'output_invalid', message: "the output does not match the step's output schema", fields: problems });
        }
        closeReview(decision.decision === 'supply' ? 'supplied' : 'taken_over', reviewer, { ...(reason ? { reason } : {}), detail: decision.output });
        run.status = 'running';
        if (decision.decision === 'take_over') {
          run.overrides.push(step!.id);
          if (escalationCase === 'verification_mismatch') {
            const of = (step as StepOf<'verify'>).of ?? Object.keys(run.claims).at(-1)!;
            if (run.claims[of]) run.claims[of].verified = 'reviewer';
          }
        }
        stepDone(step!, decision.output);
        return out;
      }
    }
  }
}

/** Risk drives model routing; the producer may declare it in the input, and undeclared means low. */
export function riskOfTask(input: Record<string, unknown>): 'low' | 'medium' | 'high' {
  const declared = input['risk'];
  if (declared === 'high' || declared === 'medium' || declared === 'low') return declared;
  return 'low';
}

/** A new run of a workflow, pinned to its version. */
export function newWorkflowRun(
  workflow: CompiledWorkflow,
  intent: { intentId: string; agentId: string; agentVersion?: string | null; task: string; input?: Record<string, unknown> },
  requester: string,
  now: Date,
  deadlineSeconds?: number,
): WorkflowRun {
  const def = workflow.definition;
  return {
    runId: intent.intentId,
    agentId: intent.agentId,
    agentVersion: intent.agentVersion ?? null,
    requester,
    task: intent.task,
    input: intent.input ?? {},
    workflowId: def.id,
    workflowVersion: def.version,
    status: 'pending',
    outcome: null,
    reasons: [],
    cursor: null,
    outputs: {},
    claims: {},
    review: null,
    paused: false,
    overrides: [],
    executions: 0,
    result: null,
    startedAt: now.toISOString(),
    deadlineAt: new Date(now.getTime() + (deadlineSeconds ?? def.deadlineSeconds) * 1000).toISOString(),
    completedAt: null,
  };
}

