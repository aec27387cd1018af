import { Column, CreateDateColumn, Entity, Index, PrimaryColumn, UpdateDateColumn } from 'typeorm';
import type { AgentStatus, AutonomyTier } from '@govmesh/policy-engine';

/** A non-human identity: who owns it, how much autonomy it has, which version runs. */
@Entity({ name: 'agents' })
export class AgentRecord {
  @PrimaryColumn({ type: 'varchar', length: 128 })
  id!: string;

  @Column({ type: 'varchar', length: 64 })
  version!: string;

  @Column({ type: 'varchar', length: 128 })
  owner!: string;

  @Column({ type: 'varchar', length: 32 })
  tier!: AutonomyTier;

  @Column({ type: 'varchar', length: 16 })
  status!: AgentStatus;

  @Column({ type: 'text', default: '' })
  description!: string;

  @CreateDateColumn({ name: 'created_at', type: 'timestamptz' })
  createdAt!: Date;

  @UpdateDateColumn({ name: 'updated_at', type: 'timestamptz' })
  updatedAt!: Date;
}

/** What policy knows of a tool: its side-effect class decides which agents may use it. */
@Entity({ name: 'tool_profiles' })
export class ToolProfileRecord {
  @PrimaryColumn({ type: 'varchar', length: 128 })
  name!: string;

  @Column({ name: 'side_effect', type: 'varchar', length: 16 })
  sideEffect!: 'read' | 'write';
}

/** Every decision, with its reasons and the policy version that made it. */
@Entity({ name: 'decisions' })
@Index('decisions_run_idx', ['runId'])
export class DecisionRecord {
  @PrimaryColumn({ type: 'uuid' })
  id!: string;

  @Column({ name: 'run_id', type: 'varchar', length: 128 })
  runId!: string;

  @Column({ name: 'step_id', type: 'varchar', length: 64, nullable: true })
  stepId!: string | null;

  @Column({ type: 'varchar', length: 16 })
  subject!: 'intent' | 'action';

  @Column({ name: 'agent_id', type: 'varchar', length: 128 })
  agentId!: string;

  @Column({ type: 'varchar', length: 32 })
  effect!: string;

  @Column({ type: 'jsonb' })
  reasons!: Array<{ code: string; message: string }>;

  @Column({ name: 'policy_version', type: 'varchar', length: 64 })
  policyVersion!: string;

  @Column({ name: 'grant_id', type: 'varchar', length: 64, nullable: true })
  grantId!: string | null;

  @CreateDateColumn({ name: 'decided_at', type: 'timestamptz' })
  decidedAt!: Date;
}

export const POLICY_ENTITIES = [AgentRecord, ToolProfileRecord, DecisionRecord];
