import { Column, CreateDateColumn, Entity, Index, PrimaryColumn, PrimaryGeneratedColumn } from 'typeorm';
import { RateBucketRecord } from './mediation/rate-bucket.entity';
import { SANDBOX_SYSTEM_ENTITIES } from './sandbox-entities';
import { ConnectionRecord } from './connections/connection.entity';
import { REGISTRY_ENTITIES } from './registry/registry.entities';

/** One execution of a tool (or its refusal), bound to the grant that allowed it. */
@Entity({ name: 'executions' })
@Index('executions_run_idx', ['runId'])
export class ToolExecutionRecord {
  @PrimaryColumn({ type: 'uuid' })
  id!: string;

  @Column({ name: 'run_id', type: 'varchar', length: 128 })
  runId!: string;

  @Column({ name: 'step_id', type: 'varchar', length: 64 })
  stepId!: string;

  @Column({ type: 'varchar', length: 128 })
  tool!: string;

  /** Who asked: the agent (or `govmesh-verifier` for the verifier's reads); null on rows older than the column. */
  @Column({ name: 'agent_id', type: 'varchar', length: 128, nullable: true })
  agentId!: string | null;

  /** A would-have-done record: checked and granted like any call, but nothing was called. */
  @Column({ name: 'dry_run', type: 'boolean', default: false })
  dryRun!: boolean;

  /** A grant is single-use: a second execution under the same grant is refused. */
  @Index('executions_grant_key', { unique: true })
  @Column({ name: 'grant_id', type: 'varchar', length: 64, nullable: true })
  grantId!: string | null;

  @Column({ type: 'jsonb' })
  arguments!: Record<string, unknown>;

  /** `in_progress` from reservation until the result is recorded. */
  @Column({ type: 'varchar', length: 16 })
  status!: 'in_progress' | 'succeeded' | 'failed' | 'rejected' | 'dry_run';

  /**
   * The caller's idempotency key (run id + step-execution id), when the request carried one. A
   * request with a key whose execution succeeded is answered from this row and never performed
   * again; while its execution is in progress, a repeated request is not performed either. The
   * key is released (set null) from a failed or refused execution when a retry under it is accepted.
   */
  @Index('executions_idempotency_key', { unique: true })
  @Column({ name: 'idempotency_key', type: 'varchar', length: 300, nullable: true })
  idempotencyKey!: string | null;

  @Column({ type: 'jsonb', nullable: true })
  output!: Record<string, unknown> | null;

  /** What the tool said the system of record now shows, for the verifier (and for replays). */
  @Column({ type: 'jsonb', nullable: true })
  claim!: Record<string, unknown> | null;

  @Column({ type: 'jsonb', default: () => "'[]'" })
  reasons!: Array<{ code: string; message: string }>;

  @CreateDateColumn({ name: 'created_at', type: 'timestamptz' })
  createdAt!: Date;
}

/**
 * The sandbox system of record: a stand-in for a CRM or ledger, in its own schema. Tools act
 * on it; the verifier reads it back independently.
 */
@Entity({ name: 'accounts', schema: 'sandbox' })
export class SandboxAccount {
  @PrimaryColumn({ type: 'varchar', length: 32 })
  id!: string;

  @Column({ type: 'varchar', length: 128 })
  holder!: string;

  @Column({ type: 'varchar', length: 16 })
  status!: 'active' | 'frozen' | 'closed';

  @Column({ name: 'balance_cents', type: 'integer' })
  balanceCents!: number;

  @Column({ name: 'updated_at', type: 'timestamptz' })
  updatedAt!: Date;
}

/** The sandbox's own access log: one row per read or write a tool made. */
@Entity({ name: 'access_log', schema: 'sandbox' })
@Index('access_log_run_idx', ['runId'])
export class SandboxAccessLog {
  @PrimaryGeneratedColumn('increment', { type: 'bigint' })
  id!: string;

  @Column({ name: 'account_id', type: 'varchar', length: 32 })
  accountId!: string;

  @Column({ name: 'run_id', type: 'varchar', length: 128 })
  runId!: string;

  @Column({ name: 'execution_id', type: 'uuid' })
  executionId!: string;

  @Column({ type: 'varchar', length: 16 })
  operation!: 'read' | 'write';

  /** The caller's idempotency key: the sandbox acts once per key. */
  @Index('access_log_idempotency_key', { unique: true })
  @Column({ name: 'idempotency_key', type: 'varchar', length: 255 })
  idempotencyKey!: string;

  @CreateDateColumn({ name: 'accessed_at', type: 'timestamptz' })
  accessedAt!: Date;
}

/**
 * What the gateway knows of each agent from the registry's events: its status and the versions
 * whose keys were revoked. A grant for a suspended or retired agent, or a revoked version, is
 * refused before its expiry.
 */
@Entity({ name: 'agent_states' })
export class AgentStateRecord {
  @PrimaryColumn({ name: 'agent_id', type: 'varchar', length: 128 })
  agentId!: string;

  @Column({ type: 'varchar', length: 16 })
  status!: string;

  @Column({ name: 'revoked_versions', type: 'jsonb', default: () => "'[]'" })
  revokedVersions!: string[];

  @Column({ name: 'changed_at', type: 'timestamptz' })
  changedAt!: Date;
}

export const TOOL_GATEWAY_ENTITIES = [ToolExecutionRecord, SandboxAccount, SandboxAccessLog, AgentStateRecord, ...SANDBOX_SYSTEM_ENTITIES, RateBucketRecord, ConnectionRecord, ...REGISTRY_ENTITIES];
