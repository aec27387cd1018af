import { Column, CreateDateColumn, Entity, Index, PrimaryColumn, PrimaryGeneratedColumn, UpdateDateColumn } from 'typeorm';

export type RunStatus = 'pending' | 'running' | 'awaiting_approval' | 'completed';

/** A durable run of one intent through its workflow. */
@Entity({ name: 'runs' })
@Index('runs_status_idx', ['status'])
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

  /** The action the model proposed, kept so the tool call is exactly what policy granted. */
  @Column({ type: 'jsonb', nullable: true })
  proposal!: { tool: string; arguments: Record<string, unknown> } | null;

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

export const ORCHESTRATOR_ENTITIES = [RunRecord, RunTimelineEntry];
