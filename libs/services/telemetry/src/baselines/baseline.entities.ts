import { Column, Entity, Index, PrimaryColumn } from 'typeorm';

/**
 * What telemetry learned of one run for behaviour baselines and workflow KPIs: its agent and
 * workflow, its model tokens, whether it had a deny, an escalation or a human override, and how it
 * ended. Pruned once older than the baseline window and the longest KPI window.
 */
@Entity({ name: 'run_profiles' })
@Index('run_profiles_agent_completed_idx', ['agentId', 'completedAt'])
@Index('run_profiles_workflow_completed_idx', ['workflowId', 'completedAt'])
export class RunProfileRecord {
  @PrimaryColumn({ name: 'run_id', type: 'varchar', length: 128 })
  runId!: string;

  @Column({ name: 'agent_id', type: 'varchar', length: 128, nullable: true })
  agentId!: string | null;

  @Column({ name: 'workflow_id', type: 'varchar', length: 128, nullable: true })
  workflowId!: string | null;

  /** Input and output tokens of every model call of the run: its cost. */
  @Column({ name: 'cost_tokens', type: 'bigint', default: 0 })
  costTokens!: string;

  @Column({ type: 'boolean', default: false })
  denied!: boolean;

  @Column({ type: 'boolean', default: false })
  escalated!: boolean;

  @Column({ type: 'boolean', default: false })
  overridden!: boolean;

  @Column({ name: 'first_seen_at', type: 'timestamptz' })
  firstSeenAt!: Date;

  @Column({ name: 'started_at', type: 'timestamptz', nullable: true })
  startedAt!: Date | null;

  @Column({ name: 'completed_at', type: 'timestamptz', nullable: true })
  completedAt!: Date | null;

  @Column({ type: 'varchar', length: 32, nullable: true })
  outcome!: string | null;
}

/** How often an agent used a tool or reached an egress destination, per day (days older than the window are pruned). */
@Entity({ name: 'agent_usage' })
export class AgentUsageRecord {
  @PrimaryColumn({ name: 'agent_id', type: 'varchar', length: 128 })
  agentId!: string;

  /** `tool` or `egress`. */
  @PrimaryColumn({ type: 'varchar', length: 16 })
  dimension!: string;

  @PrimaryColumn({ type: 'varchar', length: 300 })
  subject!: string;

  @PrimaryColumn({ type: 'date' })
  day!: string;

  @Column({ type: 'integer' })
  calls!: number;

  @Column({ name: 'last_seen_at', type: 'timestamptz' })
  lastSeenAt!: Date;
}

/**
 * Where tool calls go, learned from registry events: a tool's connection (`kind` tool, null for a
 * tool with none, such as the sandbox's) and a connection's endpoint host (`kind` connection).
 */
@Entity({ name: 'egress_routes' })
export class EgressRouteRecord {
  @PrimaryColumn({ type: 'varchar', length: 16 })
  kind!: string;

  @PrimaryColumn({ type: 'varchar', length: 128 })
  id!: string;

  @Column({ type: 'varchar', length: 300, nullable: true })
  destination!: string | null;

  @Column({ name: 'updated_at', type: 'timestamptz' })
  updatedAt!: Date;
}

/** The last alert per agent, kind and subject: another is raised only once acknowledged or after the window. */
@Entity({ name: 'behaviour_alerts' })
export class BehaviourAlertRecord {
  @PrimaryColumn({ name: 'agent_id', type: 'varchar', length: 128 })
  agentId!: string;

  @PrimaryColumn({ type: 'varchar', length: 32 })
  kind!: string;

  @PrimaryColumn({ type: 'varchar', length: 300 })
  subject!: string;

  @Column({ name: 'run_id', type: 'varchar', length: 128 })
  runId!: string;

  @Column({ type: 'double precision' })
  observed!: number;

  @Column({ type: 'double precision' })
  expected!: number;

  @Column({ name: 'raised_at', type: 'timestamptz' })
  raisedAt!: Date;

  @Column({ name: 'acknowledged_at', type: 'timestamptz', nullable: true })
  acknowledgedAt!: Date | null;

  @Column({ name: 'acknowledged_by', type: 'varchar', length: 300, nullable: true })
  acknowledgedBy!: string | null;
}

export const BASELINE_ENTITIES = [RunProfileRecord, AgentUsageRecord, EgressRouteRecord, BehaviourAlertRecord];
