import type { IntentSubmittedV1, Reason, RunOutcome } from '@govmesh/contracts';
import type { WorkflowDefinition } from '@govmesh/workflow';
import type { RunStatus } from '../entities';

/** A run as the orchestrator reasons about it: plain data, loaded and written by RunsRepository. */
export interface RunState {
  id: string;
  agentId: string;
  agentVersion: string | null;
  task: string;
  input: Record<string, unknown>;
  status: RunStatus;
  outcome: RunOutcome | null;
  currentStep: string | null;
  workflowId: string;
  workflowVersion: number;
  proposal: { tool: string; arguments: Record<string, unknown> } | null;
  reasons: Reason[];
  result: Record<string, unknown> | null;
  source: 'http' | 'kafka';
  createdAt: Date;
  completedAt: Date | null;
  deadlineAt: Date;
}

export interface TimelineEntry {
  runId: string;
  stepId: string | null;
  kind: string;
  eventType: string | null;
  eventId: string | null;
  detail: Record<string, unknown>;
}

export const deadlineTimerId = (runId: string): string => `run_deadline:${runId}`;

export function deadlineSecondsOf(workflow: WorkflowDefinition, override?: number): number {
  return override ?? workflow.deadlineSeconds;
}

export function newRun(intent: IntentSubmittedV1, source: 'http' | 'kafka', workflow: WorkflowDefinition, deadlineSeconds: number, now = new Date()): RunState {
  return {
    id: intent.intentId,
    agentId: intent.agentId,
    agentVersion: intent.agentVersion ?? null,
    task: intent.task,
    input: intent.input ?? {},
    status: 'pending',
    outcome: null,
    currentStep: null,
    workflowId: workflow.id,
    workflowVersion: workflow.version,
    proposal: null,
    reasons: [],
    result: null,
    source,
    createdAt: now,
    completedAt: null,
    deadlineAt: new Date(now.getTime() + deadlineSeconds * 1000),
  };
}
