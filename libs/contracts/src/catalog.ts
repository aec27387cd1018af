import type { TSchema, Static } from '@sinclair/typebox';
import { Topics, type TopicName } from './topics';
import { IntentSubmittedV1 } from './events/intent';
import { ActionDecidedV1, ActionProposedV1, IntentDecidedV1 } from './events/policy';
import {
  ContextRequestedV1,
  ContextRetrievedV1,
  ModelCompletedV1,
  ModelRequestedV1,
  ToolExecutedV1,
  ToolRequestedV1,
  VerificationCompletedV1,
  VerificationRequestedV1,
} from './events/steps';
import { ApprovalDecidedV1, ApprovalRequestedV1, RunCompletedV1 } from './events/run';
import { AgentChangedV1, ConnectionChangedV1, PolicyActivatedV1 } from './events/registry';
import { ToolGrantChangedV1, ToolRegisteredV1, VerificationReadCompletedV1, VerificationReadRequestedV1 } from './events/tools';
import { TimerFiredV1 } from './events/timer';
import { BehaviourFlaggedV1 } from './events/alerts';

/**
 * The event catalog: every event type of the flow, its data schema and the topic it travels on.
 * Types are versioned `govmesh.<entity>.<event>.v<N>`; a breaking change is a new version.
 */
export const EventTypes = {
  IntentSubmitted: 'govmesh.intent.submitted.v1',
  IntentDecided: 'govmesh.intent.decided.v1',
  ContextRequested: 'govmesh.context.requested.v1',
  ContextRetrieved: 'govmesh.context.retrieved.v1',
  ModelRequested: 'govmesh.model.requested.v1',
  ModelCompleted: 'govmesh.model.completed.v1',
  ActionProposed: 'govmesh.action.proposed.v1',
  ActionDecided: 'govmesh.action.decided.v1',
  ToolRequested: 'govmesh.tool.requested.v1',
  ToolExecuted: 'govmesh.tool.executed.v1',
  VerificationRequested: 'govmesh.verification.requested.v1',
  VerificationCompleted: 'govmesh.verification.completed.v1',
  ApprovalRequested: 'govmesh.approval.requested.v1',
  ApprovalDecided: 'govmesh.approval.decided.v1',
  RunCompleted: 'govmesh.run.completed.v1',
  TimerFired: 'govmesh.timer.fired.v1',
  AgentChanged: 'govmesh.agent.changed.v1',
  PolicyActivated: 'govmesh.policy.activated.v1',
  ConnectionChanged: 'govmesh.connection.changed.v1',
  ToolRegistered: 'govmesh.tool.registered.v1',
  ToolGrantChanged: 'govmesh.toolgrant.changed.v1',
  VerificationReadRequested: 'govmesh.verification.readrequested.v1',
  VerificationReadCompleted: 'govmesh.verification.readcompleted.v1',
  BehaviourFlagged: 'govmesh.behaviour.flagged.v1',
} as const;

export type EventType = (typeof EventTypes)[keyof typeof EventTypes];

/**
 * The data field whose value is the Kafka key of an event: the run id for run-scoped events, the
 * entity's id for registry events. Every event of one key stays in order on one partition.
 */
export type EventKeyField = 'runId' | 'intentId' | 'agentId' | 'policySet' | 'connectionId' | 'name';

export interface EventDefinition<S extends TSchema = TSchema> {
  readonly type: EventType;
  readonly topic: TopicName;
  readonly schema: S;
  readonly key: EventKeyField;
  readonly description: string;
}

function define<S extends TSchema>(type: EventType, topic: TopicName, schema: S, description: string, key: EventKeyField = 'runId'): EventDefinition<S> {
  return { type, topic, schema, key, description };
}

export const EVENT_CATALOG = {
  [EventTypes.IntentSubmitted]: define(EventTypes.IntentSubmitted, Topics.intents, IntentSubmittedV1, 'An agent asks govmesh to carry out a task.', 'intentId'),
  [EventTypes.IntentDecided]: define(EventTypes.IntentDecided, Topics.decisions, IntentDecidedV1, 'Policy decided whether the intent may run.'),
  [EventTypes.ContextRequested]: define(EventTypes.ContextRequested, Topics.contextCommands, ContextRequestedV1, 'Orchestrator asks for permission-scoped context.'),
  [EventTypes.ContextRetrieved]: define(EventTypes.ContextRetrieved, Topics.outcomes, ContextRetrievedV1, 'Context returned citations with provenance.'),
  [EventTypes.ModelRequested]: define(EventTypes.ModelRequested, Topics.modelCommands, ModelRequestedV1, 'Orchestrator asks the router for a model decision.'),
  [EventTypes.ModelCompleted]: define(EventTypes.ModelCompleted, Topics.outcomes, ModelCompletedV1, 'The routed model proposed an action (or none).'),
  [EventTypes.ActionProposed]: define(EventTypes.ActionProposed, Topics.actions, ActionProposedV1, 'A proposed tool action awaits a policy decision.'),
  [EventTypes.ActionDecided]: define(EventTypes.ActionDecided, Topics.actionDecisions, ActionDecidedV1, 'Policy decided on the action; a signed grant when allowed.'),
  [EventTypes.ToolRequested]: define(EventTypes.ToolRequested, Topics.toolCommands, ToolRequestedV1, 'Orchestrator asks the gateway to execute a granted action.'),
  [EventTypes.ToolExecuted]: define(EventTypes.ToolExecuted, Topics.outcomes, ToolExecutedV1, 'The gateway executed (or rejected) the action.'),
  [EventTypes.VerificationRequested]: define(EventTypes.VerificationRequested, Topics.verifyCommands, VerificationRequestedV1, 'Orchestrator asks the verifier to confirm a claim.'),
  [EventTypes.VerificationCompleted]: define(EventTypes.VerificationCompleted, Topics.outcomes, VerificationCompletedV1, 'The verifier read the system of record back.'),
  [EventTypes.ApprovalRequested]: define(EventTypes.ApprovalRequested, Topics.approvals, ApprovalRequestedV1, 'A run waits for a human (an action approval, a checkpoint or an escalation), with its full state.'),
  [EventTypes.ApprovalDecided]: define(EventTypes.ApprovalDecided, Topics.approvals, ApprovalDecidedV1, 'A review item was decided, moved up a level, expired or withdrawn; with the reviewer.'),
  [EventTypes.RunCompleted]: define(EventTypes.RunCompleted, Topics.results, RunCompletedV1, 'The final result of a run.'),
  [EventTypes.TimerFired]: define(EventTypes.TimerFired, Topics.timers, TimerFiredV1, 'A durable timer of a run came due (a run deadline).'),
  [EventTypes.AgentChanged]: define(EventTypes.AgentChanged, Topics.registry, AgentChangedV1, 'An agent was registered or changed in the registry.', 'agentId'),
  [EventTypes.PolicyActivated]: define(EventTypes.PolicyActivated, Topics.registry, PolicyActivatedV1, 'A policy set version became the one every decision uses.', 'policySet'),
  [EventTypes.ConnectionChanged]: define(EventTypes.ConnectionChanged, Topics.registry, ConnectionChangedV1, 'A connection was created, its secret rotated, or the connection revoked (never with the secret).', 'connectionId'),
  [EventTypes.ToolRegistered]: define(EventTypes.ToolRegistered, Topics.registry, ToolRegisteredV1, 'A tool of the manifest was registered, changed (a new version) or retired: policy and the verifier learn tools from it.', 'name'),
  [EventTypes.ToolGrantChanged]: define(EventTypes.ToolGrantChanged, Topics.registry, ToolGrantChangedV1, 'A tool was granted to an agent version (with argument constraints) or the grant withdrawn.', 'agentId'),
  [EventTypes.VerificationReadRequested]: define(EventTypes.VerificationReadRequested, Topics.toolCommands, VerificationReadRequestedV1, 'The verifier asks the gateway, under its own signed identity, to read the system of record with a read tool for one check.'),
  [EventTypes.VerificationReadCompleted]: define(EventTypes.VerificationReadCompleted, Topics.verifyCommands, VerificationReadCompletedV1, 'The gateway answers a verification read: the record as the system holds it, or why it could not be read.'),
  [EventTypes.BehaviourFlagged]: define(EventTypes.BehaviourFlagged, Topics.alerts, BehaviourFlaggedV1, 'An agent acted unlike its behaviour baseline: a first-seen tool, an unseen egress destination, a cost outlier, or a deny or escalation rate far above its usual one.'),
} as const;

type Catalog = typeof EVENT_CATALOG;
/** The data type of an event type, derived from its schema: one source for schema and type. */
export type EventData<T extends EventType> = Static<Catalog[T]['schema']>;

/** Whether events of this type belong to one run (keyed by the run id, which the intent id is). */
export function isRunScoped(type: EventType): boolean {
  const key = EVENT_CATALOG[type].key;
  return key === 'runId' || key === 'intentId';
}

/** The Kafka key of an event, from the field its type declares. */
export function eventKey<T extends EventType>(type: T, data: EventData<T>): string {
  const field = EVENT_CATALOG[type].key;
  return String((data as Record<string, unknown>)[field]);
}

export function isKnownEventType(type: string): type is EventType {
  return Object.prototype.hasOwnProperty.call(EVENT_CATALOG, type);
}

export function eventsOnTopic(topic: string): EventType[] {
  return Object.values(EVENT_CATALOG)
    .filter((d) => d.topic === topic)
    .map((d) => d.type);
}
