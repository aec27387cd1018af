import type { Context, Span } from '@opentelemetry/api';
import type { GovmeshEvent } from '@govmesh/contracts';
import { endSpan, GovmeshAttributes, SemconvAttributes, startGovmeshSpan, withSpan } from '@govmesh/observability';
import type { Refusal, WorkflowCommand, WorkflowInput, WorkflowRun } from '@govmesh/workflow';
import { ORCHESTRATOR_SERVICE } from '../database';

/** Where a step's trace starts: the span recording its event's handling, or the active context (an HTTP decision). */
export interface StepTraceParent {
  traceContextOf(cause?: GovmeshEvent): Context;
}

type RunRef = Pick<WorkflowRun, 'runId' | 'agentId' | 'workflowId' | 'workflowVersion'>;

/**
 * The spans of one move of a run. A durable run lives across many events and processes, so no
 * single span can cover it: each move (an input through the interpreter) is one
 * `invoke_workflow {workflow}` span, as the GenAI agent conventions name a workflow invocation,
 * and the spans of one run share its trace through the events' `traceparent`. The commands it
 * emits are published as its children.
 *
 * A review decided in the move (by a reviewer, an expiry or an SLA escalation) gets a
 * `decide_review {kind}` child with the decision in `govmesh.approval.*` attributes: the GenAI
 * conventions have none for a human approval yet (semantic-conventions issue #3679 is open).
 * Ids, names, codes and the action's digest only: never the arguments, the task, the reason text.
 */
export class StepTrace {
  private constructor(
    private readonly span: Span,
    private readonly parent: Context,
  ) {}

  static start(uow: StepTraceParent, run: RunRef, input: WorkflowInput, cause?: GovmeshEvent): StepTrace {
    const { span, parent } = startGovmeshSpan(`invoke_workflow ${run.workflowId}`, {
      parent: uow.traceContextOf(cause),
      attributes: {
        [SemconvAttributes.genAiOperation]: 'invoke_workflow',
        [SemconvAttributes.genAiWorkflowName]: run.workflowId,
        'gen_ai.agent.id': run.agentId,
        [GovmeshAttributes.service]: ORCHESTRATOR_SERVICE,
        [GovmeshAttributes.workflowVersion]: run.workflowVersion,
        [GovmeshAttributes.runId]: run.runId,
        [GovmeshAttributes.runInput]: input.kind,
      },
    });
    return new StepTrace(span, parent);
  }

  /** Emits one command of the move under its span (a review decision under its own child span). */
  emit(command: WorkflowCommand, emit: () => void): void {
    if (command.kind !== 'review_decided') return withSpan(this.span, this.parent, emit);
    withSpan(this.span, this.parent, () => {
      const { span, parent } = startGovmeshSpan(`decide_review ${command.reviewKind}`, {
        attributes: {
          [GovmeshAttributes.service]: ORCHESTRATOR_SERVICE,
          [GovmeshAttributes.stepId]: command.stepId,
          [GovmeshAttributes.approvalId]: command.reviewId,
          [GovmeshAttributes.approvalKind]: command.reviewKind,
          [GovmeshAttributes.approvalStatus]: command.decision,
          ...(command.reviewer ? { [GovmeshAttributes.approvalApprover]: command.reviewer.id } : {}),
          ...(command.digest ? { [GovmeshAttributes.approvalActionDigest]: command.digest } : {}),
          ...(command.riskTier ? { [GovmeshAttributes.approvalRiskTier]: command.riskTier } : {}),
          ...(command.level ? { [GovmeshAttributes.approvalLevel]: command.level } : {}),
        },
      });
      try {
        withSpan(span, parent, emit);
      } finally {
        endSpan(span);
      }
    });
  }

  /** Ends the move: where the run is now, or the refusal's code when the input was refused. */
  end(run: Pick<WorkflowRun, 'status' | 'outcome' | 'cursor'>, refused?: Refusal): void {
    if (refused) return endSpan(this.span, { errorType: refused.code });
    this.span.setAttributes({
      [GovmeshAttributes.runStatus]: run.status,
      ...(run.outcome ? { [GovmeshAttributes.runOutcome]: run.outcome } : {}),
      ...(run.cursor ? { [GovmeshAttributes.stepId]: run.cursor.execId } : {}),
    });
    // A run that ends failed, denied, timed out or rejected is an outcome, not an error of this span.
    endSpan(this.span);
  }
}
