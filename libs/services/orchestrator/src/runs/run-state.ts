import type { WorkflowRun } from '@govmesh/workflow';

/** A run as the orchestrator keeps it: the interpreter's run plus where it came from. */
export interface RunState extends WorkflowRun {
  source: 'http' | 'kafka';
  createdAt: Date;
}

export interface TimelineEntry {
  runId: string;
  stepId: string | null;
  kind: string;
  eventType: string | null;
  eventId: string | null;
  detail: Record<string, unknown>;
}

/** The requester of an intent that arrived on Kafka: the agent itself. */
export const kafkaRequester = (agentId: string): string => `agent:${agentId}`;
