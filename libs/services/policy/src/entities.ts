import { Column, CreateDateColumn, Entity, Index, PrimaryColumn, PrimaryGeneratedColumn, UpdateDateColumn } from 'typeorm';
import type { AgentStatus, AutonomyTier, Classification, SideEffect } from '@govmesh/policy-engine';

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

  /** The most sensitive data class this agent may touch. */
  @Column({ type: 'varchar', length: 16, default: 'internal' })
  clearance!: Classification;

  @Column({ type: 'text', default: '' })
  purpose!: string;

  @CreateDateColumn({ name: 'created_at', type: 'timestamptz' })
  createdAt!: Date;

  @UpdateDateColumn({ name: 'updated_at', type: 'timestamptz' })
  updatedAt!: Date;
}

/** One version of an agent and its Ed25519 public key: intents are signed with that version's key. */
@Entity({ name: 'agent_versions' })
export class AgentVersionRecord {
  @PrimaryColumn({ name: 'agent_id', type: 'varchar', length: 128 })
  agentId!: string;

  @PrimaryColumn({ type: 'varchar', length: 64 })
  version!: string;

  /** base64url of the raw 32-byte key; null for a version registered without one (HTTP ingress only). */
  @Column({ name: 'public_key', type: 'varchar', length: 64, nullable: true })
  publicKey!: string | null;

  @Column({ name: 'key_status', type: 'varchar', length: 16, default: 'active' })
  keyStatus!: 'active' | 'revoked';

  @Column({ name: 'created_by', type: 'varchar', length: 300 })
  createdBy!: string;

  @CreateDateColumn({ name: 'created_at', type: 'timestamptz' })
  createdAt!: Date;

  @Column({ name: 'revoked_at', type: 'timestamptz', nullable: true })
  revokedAt!: Date | null;
}

/**
 * What policy knows of a tool, learned only from the tool manifest (`govmesh.tool.registered.v1`):
 * side-effect class, data classification, the highest tier it allows, of the newest version seen.
 */
@Entity({ name: 'tool_profiles' })
export class ToolProfileRecord {
  @PrimaryColumn({ type: 'varchar', length: 128 })
  name!: string;

  @Column({ name: 'side_effect', type: 'varchar', length: 16 })
  sideEffect!: SideEffect;

  @Column({ type: 'varchar', length: 16, default: 'internal' })
  classification!: Classification;

  @Column({ name: 'max_tier', type: 'varchar', length: 32, nullable: true })
  maxTier!: AutonomyTier | null;

  /** Which argument names the resource the tool acts on (an account id, say), and its kind. */
  @Column({ name: 'resource_argument', type: 'varchar', length: 64, nullable: true })
  resourceArgument!: string | null;

  @Column({ name: 'resource_kind', type: 'varchar', length: 64, nullable: true })
  resourceKind!: string | null;

  /** The manifest version (semver) this profile is of: an event of an older version never replaces it. */
  @Column({ type: 'varchar', length: 32 })
  version!: string;

  /** `retired`: the tool is no longer known, and an action on it is denied as unregistered. */
  @Column({ type: 'varchar', length: 16 })
  status!: 'active' | 'retired';

  /** The time of the event this profile is from: of two events of one version, the later wins. */
  @Column({ name: 'updated_at', type: 'timestamptz' })
  updatedAt!: Date;
}

/** Resources policy knows the classification of (accounts, documents): looked up by kind and id. */
@Entity({ name: 'resources' })
export class ResourceRecord {
  @PrimaryColumn({ type: 'varchar', length: 64 })
  kind!: string;

  @PrimaryColumn({ type: 'varchar', length: 128 })
  id!: string;

  @Column({ type: 'varchar', length: 16 })
  classification!: Classification;

  @Column({ type: 'varchar', length: 128, nullable: true })
  owner!: string | null;
}

/** Policy set versions: candidates validated on upload, one active at a time, kept for rollback. */
@Entity({ name: 'policy_sets' })
@Index('policy_sets_one_active', ['status'], { unique: true, where: "status = 'active'" })
export class PolicySetRecord {
  @PrimaryColumn({ type: 'varchar', length: 16 })
  version!: string;

  @Column({ type: 'jsonb' })
  policies!: Record<string, string>;

  @Column({ type: 'varchar', length: 16 })
  status!: 'candidate' | 'active' | 'inactive';

  @Column({ type: 'text', default: '' })
  description!: string;

  @Column({ name: 'created_by', type: 'varchar', length: 300 })
  createdBy!: string;

  @CreateDateColumn({ name: 'created_at', type: 'timestamptz' })
  createdAt!: Date;

  @Column({ name: 'activated_at', type: 'timestamptz', nullable: true })
  activatedAt!: Date | null;

  @Column({ name: 'activated_by', type: 'varchar', length: 300, nullable: true })
  activatedBy!: string | null;
}

/** Every activation, in order: rollback returns to the one before. */
@Entity({ name: 'policy_activations' })
export class PolicyActivationRecord {
  @PrimaryGeneratedColumn({ type: 'bigint' })
  seq!: string;

  @Column({ type: 'varchar', length: 16 })
  version!: string;

  @Column({ name: 'previous_version', type: 'varchar', length: 16, nullable: true })
  previousVersion!: string | null;

  @Column({ type: 'varchar', length: 16 })
  change!: 'activated' | 'rolled_back' | 'seeded';

  @Column({ name: 'activated_by', type: 'varchar', length: 300 })
  activatedBy!: string;

  @CreateDateColumn({ name: 'activated_at', type: 'timestamptz' })
  activatedAt!: Date;
}

/** Every decision, with its reasons and the policy version that made it. */
@Entity({ name: 'decisions' })
@Index('decisions_run_idx', ['runId'])
@Index('decisions_decided_idx', ['decidedAt'])
@Index('decisions_approval_uq', ['approvalId'], { unique: true, where: 'approval_id IS NOT NULL' })
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

  /** The reviewer approval this decision consumed: each approval is honoured once. */
  @Column({ name: 'approval_id', type: 'varchar', length: 64, nullable: true })
  approvalId!: string | null;

  /** The request as evaluated (entities and context), so impact analysis can replay it. */
  @Column({ type: 'jsonb', nullable: true })
  request!: Record<string, unknown> | null;

  @CreateDateColumn({ name: 'decided_at', type: 'timestamptz' })
  decidedAt!: Date;
}

export const POLICY_ENTITIES = [AgentRecord, AgentVersionRecord, ToolProfileRecord, ResourceRecord, PolicySetRecord, PolicyActivationRecord, DecisionRecord];
