import { Column, CreateDateColumn, Entity, Index, PrimaryColumn, PrimaryGeneratedColumn, UpdateDateColumn } from 'typeorm';
import { NOTIFICATION_ENTITIES } from './notifications/notification.entity';

export type RunStatus = 'pending' | 'running' | 'awaiting_approval' | 'escalated' | 'paused' | 'completed';

/** A durable run of one intent through its workflow. */
@Entity({ name: 'runs' })
@Index('runs_status_idx', ['status'])
@Index('runs_agent_active_idx', ['agentId'], { where: "status <> 'completed'" })
export class RunRecord {
  @PrimaryColumn({ type: 'varchar', length: 128 })
  id!: string;

  @Column({ name: 'agent_id', type: 'varchar', length: 128 })
  agentId!: string;

  @Column({ name: 'agent_version', type: 'varchar', length: 64, nullable: true })
  agentVersion!: string | null;

  @Column({ type: 'text' })
  task!: string;

  @Column({ type: 'jsonb', default: () => "'{}'" })
  input!: Record<string, unknown>;

  @Column({ type: 'varchar', length: 32 })
  status!: RunStatus;

  @Column({ type: 'varchar', length: 32, nullable: true })
  outcome!: string | null;

  @Column({ name: 'current_step', type: 'varchar', length: 64, nullable: true })
  currentStep!: string | null;

  @Column({ name: 'workflow_id', type: 'varchar', length: 128 })
  workflowId!: string;

  @Column({ name: 'workflow_version', type: 'integer' })
  workflowVersion!: number;

  /** The principal that submitted the intent (`key:<id>`, `oidc:<iss>#<sub>`, or `agent:<id>` for Kafka): never its reviewer. */
  @Column({ type: 'varchar', length: 300, default: '' })
  requester!: string;

  /** The interpreter's state: the step execution under way, step outputs, claims, the open review item. */
  @Column({ name: 'workflow_state', type: 'jsonb', default: () => "'{}'" })
  workflowState!: Record<string, unknown>;

  @Column({ type: 'jsonb', default: () => "'[]'" })
  reasons!: Array<{ code: string; message: string }>;

  @Column({ type: 'jsonb', nullable: true })
  result!: Record<string, unknown> | null;

  @Column({ type: 'varchar', length: 16 })
  source!: 'http' | 'kafka';

  @CreateDateColumn({ name: 'created_at', type: 'timestamptz' })
  createdAt!: Date;

  @UpdateDateColumn({ name: 'updated_at', type: 'timestamptz' })
  updatedAt!: Date;

  @Column({ name: 'completed_at', type: 'timestamptz', nullable: true })
  completedAt!: Date | null;

  /** Past this time the run ends `timed_out` (a durable timer fires). */
  @Column({ name: 'deadline_at', type: 'timestamptz' })
  deadlineAt!: Date;
}

/** One line of a run's timeline: what happened at which step, and why. */
@Entity({ name: 'run_timeline' })
@Index('run_timeline_run_idx', ['runId', 'seq'])
export class RunTimelineEntry {
  @PrimaryGeneratedColumn('increment', { type: 'bigint' })
  seq!: string;

  @Column({ name: 'run_id', type: 'varchar', length: 128 })
  runId!: string;

  @Column({ name: 'step_id', type: 'varchar', length: 64, nullable: true })
  stepId!: string | null;

  @Column({ type: 'varchar', length: 64 })
  kind!: string;

  @Column({ name: 'event_type', type: 'varchar', length: 128, nullable: true })
  eventType!: string | null;

  @Column({ name: 'event_id', type: 'varchar', length: 128, nullable: true })
  eventId!: string | null;

  @Column({ type: 'jsonb', default: () => "'{}'" })
  detail!: Record<string, unknown>;

  @CreateDateColumn({ type: 'timestamptz' })
  at!: Date;
}

/** A published workflow definition version: immutable; a change is a new version. */
@Entity({ name: 'workflow_definitions' })
export class WorkflowDefinitionRecord {
  @PrimaryColumn({ type: 'varchar', length: 64 })
  id!: string;

  @PrimaryColumn({ type: 'integer' })
  version!: number;

  @Column({ type: 'jsonb' })
  definition!: Record<string, unknown>;

  /** sha256 of the canonical definition: publishing the same definition again is not a new version. */
  @Column({ type: 'varchar', length: 64 })
  digest!: string;

  @Column({ name: 'published_by', type: 'varchar', length: 300 })
  publishedBy!: string;

  @CreateDateColumn({ name: 'published_at', type: 'timestamptz' })
  publishedAt!: Date;
}

/** One execution of one step of a run: commands carry its id and replies are matched by it. */
@Entity({ name: 'run_steps' })
@Index('run_steps_status_idx', ['status'])
export class RunStepRecord {
  @PrimaryColumn({ name: 'run_id', type: 'varchar', length: 128 })
  runId!: string;

  /** `<step id>#<n>`, unique in the run. */
  @PrimaryColumn({ type: 'varchar', length: 64 })
  id!: string;

  @Column({ name: 'step_id', type: 'varchar', length: 64 })
  stepId!: string;

  @Column({ type: 'integer' })
  attempt!: number;

  @Column({ type: 'varchar', length: 16 })
  status!: string;

  @Column({ name: 'input_digest', type: 'varchar', length: 64, nullable: true })
  inputDigest!: string | null;

  @Column({ type: 'jsonb', nullable: true })
  output!: Record<string, unknown> | null;

  @Column({ type: 'jsonb', default: () => "'[]'" })
  reasons!: Array<{ code: string; message: string }>;

  @Column({ name: 'due_at', type: 'timestamptz', nullable: true })
  dueAt!: Date | null;

  @Column({ name: 'started_at', type: 'timestamptz' })
  startedAt!: Date;

  @Column({ name: 'ended_at', type: 'timestamptz', nullable: true })
  endedAt!: Date | null;
}

/** What a human is asked to decide: an action approval, a checkpoint or an escalated edge case, with the full state. */
@Entity({ name: 'review_items' })
@Index('review_items_status_idx', ['status', 'kind', 'requestedAt'])
@Index('review_items_run_idx', ['runId'])
export class ReviewItemRecord {
  @PrimaryColumn({ type: 'varchar', length: 64 })
  id!: string;

  @Column({ name: 'run_id', type: 'varchar', length: 128 })
  runId!: string;

  @Column({ type: 'varchar', length: 16 })
  kind!: string;

  @Column({ name: 'escalation_case', type: 'varchar', length: 32, nullable: true })
  escalationCase!: string | null;

  @Column({ name: 'step_id', type: 'varchar', length: 64, nullable: true })
  stepId!: string | null;

  @Column({ name: 'exec_id', type: 'varchar', length: 64, nullable: true })
  execId!: string | null;

  @Column({ name: 'agent_id', type: 'varchar', length: 128 })
  agentId!: string;

  @Column({ type: 'varchar', length: 300 })
  requester!: string;

  /** pending, or how it ended: approved, rejected, edited, supplied, taken_over, aborted, expired, withdrawn. */
  @Column({ type: 'varchar', length: 16 })
  status!: string;

  @Column({ type: 'integer' })
  level!: number;

  /** Groups whose reviewers may decide now (the level's and above, within policy's approvers). */
  @Column({ name: 'eligible_groups', type: 'jsonb' })
  eligibleGroups!: string[];

  @Column({ type: 'jsonb' })
  levels!: Array<Record<string, unknown>>;

  @Column({ name: 'policy_approvers', type: 'jsonb', default: () => "'[]'" })
  policyApprovers!: string[];

  @Column({ type: 'varchar', length: 64, nullable: true })
  digest!: string | null;

  @Column({ type: 'jsonb' })
  reasons!: Array<{ code: string; message: string }>;

  /** The full state: inputs, citations, model rationale and confidence, the action and its digest, policy reasons, requester. */
  @Column({ type: 'jsonb' })
  state!: Record<string, unknown>;

  @Column({ type: 'jsonb' })
  decisions!: string[];

  @Column({ name: 'requested_at', type: 'timestamptz' })
  requestedAt!: Date;

  @Column({ name: 'due_at', type: 'timestamptz', nullable: true })
  dueAt!: Date | null;

  @Column({ name: 'expires_at', type: 'timestamptz', nullable: true })
  expiresAt!: Date | null;

  @Column({ name: 'decided_at', type: 'timestamptz', nullable: true })
  decidedAt!: Date | null;

  @Column({ type: 'varchar', length: 16, nullable: true })
  decision!: string | null;

  @Column({ name: 'decided_by', type: 'jsonb', nullable: true })
  decidedBy!: Record<string, unknown> | null;

  @Column({ name: 'decision_reason', type: 'text', nullable: true })
  decisionReason!: string | null;

  /** Every change: requested, escalated, decided, with who and when. */
  @Column({ type: 'jsonb', default: () => "'[]'" })
  history!: Array<Record<string, unknown>>;
}

export const ORCHESTRATOR_ENTITIES = [RunRecord, RunTimelineEntry, WorkflowDefinitionRecord, RunStepRecord, ReviewItemRecord, ...NOTIFICATION_ENTITIES];
