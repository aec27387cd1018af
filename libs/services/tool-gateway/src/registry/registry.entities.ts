import { Column, Entity, Index, PrimaryColumn } from 'typeorm';
import type { ArgumentConstraints, ToolManifest } from '@govmesh/contracts';

/** The tool manifest: one row per tool, its current version; every version kept in `tool_versions`. */
@Entity({ name: 'tools' })
export class ToolRecord {
  @PrimaryColumn({ type: 'varchar', length: 128 })
  name!: string;

  @Column({ type: 'varchar', length: 32 })
  version!: string;

  @Column({ type: 'varchar', length: 16 })
  status!: 'active' | 'retired';

  @Column({ type: 'jsonb' })
  manifest!: ToolManifest;

  @Column({ name: 'registered_by', type: 'varchar', length: 300 })
  registeredBy!: string;

  @Column({ name: 'updated_at', type: 'timestamptz', default: () => 'now()' })
  updatedAt!: Date;
}

/** Every version of every tool ever registered, as registered. */
@Entity({ name: 'tool_versions' })
export class ToolVersionRecord {
  @PrimaryColumn({ type: 'varchar', length: 128 })
  name!: string;

  @PrimaryColumn({ type: 'varchar', length: 32 })
  version!: string;

  @Column({ type: 'jsonb' })
  manifest!: ToolManifest;

  @Column({ name: 'registered_by', type: 'varchar', length: 300 })
  registeredBy!: string;

  @Column({ name: 'registered_at', type: 'timestamptz', default: () => 'now()' })
  registeredAt!: Date;
}

/**
 * Least privilege: a tool granted to an agent version (`*`: every version), optionally with
 * argument constraints. Nothing executes for an agent without an active grant of the tool.
 */
@Entity({ name: 'tool_grants' })
@Index('tool_grants_subject_key', ['agentId', 'agentVersion', 'tool'], { unique: true })
export class ToolGrantRecord {
  @PrimaryColumn({ type: 'uuid' })
  id!: string;

  @Column({ name: 'agent_id', type: 'varchar', length: 128 })
  agentId!: string;

  @Column({ name: 'agent_version', type: 'varchar', length: 64 })
  agentVersion!: string;

  @Column({ type: 'varchar', length: 128 })
  tool!: string;

  @Column({ type: 'jsonb', nullable: true })
  constraints!: ArgumentConstraints | null;

  @Column({ type: 'varchar', length: 16 })
  status!: 'active' | 'withdrawn';

  @Column({ name: 'granted_by', type: 'varchar', length: 300 })
  grantedBy!: string;

  @Column({ name: 'granted_at', type: 'timestamptz', default: () => 'now()' })
  grantedAt!: Date;

  @Column({ name: 'withdrawn_by', type: 'varchar', length: 300, nullable: true })
  withdrawnBy!: string | null;

  @Column({ name: 'withdrawn_at', type: 'timestamptz', nullable: true })
  withdrawnAt!: Date | null;
}

/** Calls per agent and tool, kept as they are recorded: the connection map's counts and last use. */
@Entity({ name: 'tool_usage' })
export class ToolUsageRecord {
  @PrimaryColumn({ name: 'agent_id', type: 'varchar', length: 128 })
  agentId!: string;

  @PrimaryColumn({ type: 'varchar', length: 128 })
  tool!: string;

  @Column({ type: 'bigint', default: 0 })
  calls!: string;

  @Column({ type: 'bigint', default: 0 })
  succeeded!: string;

  @Column({ type: 'bigint', default: 0 })
  refused!: string;

  @Column({ name: 'last_used_at', type: 'timestamptz', nullable: true })
  lastUsedAt!: Date | null;
}

export const REGISTRY_ENTITIES = [ToolRecord, ToolVersionRecord, ToolGrantRecord, ToolUsageRecord];
