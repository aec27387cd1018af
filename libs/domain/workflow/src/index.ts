/**
 * The built-in workflow every intent follows today: retrieve context, ask the routed model for
 * a plan, have policy decide the proposed action, execute it through the gateway, verify the
 * result against the system of record. Declarative so that registered, versioned workflows
 * can replace it.
 */
export type StepKind = 'context' | 'model' | 'action' | 'tool' | 'verify';

export interface WorkflowStep {
  id: string;
  kind: StepKind;
}

export interface WorkflowDefinition {
  id: string;
  version: number;
  steps: readonly WorkflowStep[];
  /** Every run ends: past this many seconds after it started, a run ends `timed_out`. */
  deadlineSeconds: number;
}

export const DEFAULT_WORKFLOW: WorkflowDefinition = {
  id: 'retrieve-plan-act-verify',
  version: 1,
  steps: [
    { id: 'retrieve', kind: 'context' },
    { id: 'plan', kind: 'model' },
    { id: 'authorize', kind: 'action' },
    { id: 'execute', kind: 'tool' },
    { id: 'verify', kind: 'verify' },
  ],
  deadlineSeconds: 300,
};

export function firstStep(workflow: WorkflowDefinition): WorkflowStep {
  return workflow.steps[0];
}

/** The step after `stepId`, or undefined when the workflow is done. */
export function stepAfter(workflow: WorkflowDefinition, stepId: string): WorkflowStep | undefined {
  const index = workflow.steps.findIndex((s) => s.id === stepId);
  if (index < 0) throw new Error(`workflow ${workflow.id} has no step ${stepId}`);
  return workflow.steps[index + 1];
}

export function stepOfKind(workflow: WorkflowDefinition, kind: StepKind): WorkflowStep {
  const step = workflow.steps.find((s) => s.kind === kind);
  if (!step) throw new Error(`workflow ${workflow.id} has no ${kind} step`);
  return step;
}

/** Risk drives model routing; the producer may declare it in the input, and undeclared means low. */
export function riskOfTask(input: Record<string, unknown>): 'low' | 'medium' | 'high' {
  const declared = input['risk'];
  if (declared === 'high' || declared === 'medium' || declared === 'low') return declared;
  return 'low';
}
