/**
 * The topic registry: every Kafka topic govmesh uses, who writes it and who reads it.
 * Run-scoped topics are keyed by run id so that every event of one run stays in order on one
 * partition; consumers scale out by partitions within their consumer group.
 */
export interface TopicSpec {
  readonly name: string;
  /** What the Kafka key is: the run id, an entity id (registry topics), or nothing in particular. */
  readonly key: 'runId' | 'entityId' | 'none';
  readonly partitions: number;
  readonly producers: readonly string[];
  readonly consumers: readonly string[];
  readonly description: string;
}

export const Topics = {
  intents: 'govmesh.intents',
  decisions: 'govmesh.decisions',
  contextCommands: 'govmesh.commands.context',
  modelCommands: 'govmesh.commands.model',
  toolCommands: 'govmesh.commands.tool',
  verifyCommands: 'govmesh.commands.verify',
  outcomes: 'govmesh.outcomes',
  actions: 'govmesh.actions',
  actionDecisions: 'govmesh.action-decisions',
  approvals: 'govmesh.approvals',
  results: 'govmesh.results',
  timers: 'govmesh.timers',
  registry: 'govmesh.registry',
  alerts: 'govmesh.alerts',
  deadLetters: 'govmesh.dlq',
} as const;

export type TopicName = (typeof Topics)[keyof typeof Topics];

const RUN_PARTITIONS = 6;

export const TOPIC_REGISTRY: readonly TopicSpec[] = [
  { name: Topics.intents, key: 'runId', partitions: RUN_PARTITIONS, producers: ['agent producers', 'orchestrator (HTTP ingress)'], consumers: ['policy', 'telemetry'], description: 'Intents submitted by agents.' },
  { name: Topics.decisions, key: 'runId', partitions: RUN_PARTITIONS, producers: ['policy'], consumers: ['orchestrator', 'telemetry'], description: 'Policy decisions on intents.' },
  { name: Topics.contextCommands, key: 'runId', partitions: RUN_PARTITIONS, producers: ['orchestrator'], consumers: ['context', 'telemetry'], description: 'Retrieval requests.' },
  { name: Topics.modelCommands, key: 'runId', partitions: RUN_PARTITIONS, producers: ['orchestrator'], consumers: ['model-router', 'telemetry'], description: 'Model calls to route.' },
  { name: Topics.toolCommands, key: 'runId', partitions: RUN_PARTITIONS, producers: ['orchestrator', 'verifier'], consumers: ['tool-gateway', 'telemetry'], description: 'Granted tool executions, and the verifier\'s signed reads of systems of record.' },
  { name: Topics.verifyCommands, key: 'runId', partitions: RUN_PARTITIONS, producers: ['orchestrator', 'tool-gateway'], consumers: ['verifier', 'telemetry'], description: 'Claims to verify against the system of record, and the gateway\'s answers to the verifier\'s reads.' },
  { name: Topics.outcomes, key: 'runId', partitions: RUN_PARTITIONS, producers: ['context', 'model-router', 'tool-gateway', 'verifier'], consumers: ['orchestrator', 'telemetry'], description: 'Step outcomes reported back to the orchestrator.' },
  { name: Topics.actions, key: 'runId', partitions: RUN_PARTITIONS, producers: ['orchestrator'], consumers: ['policy', 'telemetry'], description: 'Actions a model proposed, for policy to decide.' },
  { name: Topics.actionDecisions, key: 'runId', partitions: RUN_PARTITIONS, producers: ['policy'], consumers: ['orchestrator', 'telemetry'], description: 'Policy decisions on proposed actions, with a grant when allowed.' },
  { name: Topics.approvals, key: 'runId', partitions: RUN_PARTITIONS, producers: ['orchestrator'], consumers: ['telemetry'], description: 'Review items (action approvals, checkpoints, escalations) and their decisions, with the reviewer.' },
  { name: Topics.results, key: 'runId', partitions: RUN_PARTITIONS, producers: ['orchestrator'], consumers: ['agent producers', 'telemetry'], description: 'One final result per run.' },
  { name: Topics.timers, key: 'runId', partitions: RUN_PARTITIONS, producers: ['orchestrator'], consumers: ['orchestrator', 'telemetry'], description: 'Durable timers that came due (run deadlines, step timeouts, retries, waits, approval expiry and SLA escalation), fired once through the outbox of the service that set them.' },
  { name: Topics.registry, key: 'entityId', partitions: 3, producers: ['policy', 'tool-gateway'], consumers: ['orchestrator', 'policy', 'model-router', 'telemetry', 'tool-gateway', 'verifier'], description: 'Registry changes (agents, policy activations, connections, tools and tool grants), keyed by the entity id, audited like run events.' },
  { name: Topics.alerts, key: 'runId', partitions: RUN_PARTITIONS, producers: ['telemetry'], consumers: ['telemetry', 'operators'], description: "Alerts telemetry raises about a run: an agent acting unlike its behaviour baseline." },
  { name: Topics.deadLetters, key: 'none', partitions: 3, producers: ['every consumer'], consumers: ['telemetry', 'operators'], description: 'Rejected messages: the original bytes and headers plus the reason.' },
];

export function topicSpec(name: string): TopicSpec | undefined {
  return TOPIC_REGISTRY.find((t) => t.name === name);
}
