import { Column, CreateDateColumn, Entity, Index, PrimaryColumn } from 'typeorm';

/**
 * One verification: the claim of an executed call, the checks of its tool's manifest with each
 * check's state (awaiting its read, or settled with its result), and once every check settled the
 * verdict and what the system of record holds.
 */
@Entity({ name: 'verifications' })
@Index('verifications_run_idx', ['runId'])
export class VerificationRecord {
  @PrimaryColumn({ type: 'uuid' })
  id!: string;

  @Column({ name: 'run_id', type: 'varchar', length: 128 })
  runId!: string;

  @Column({ name: 'step_id', type: 'varchar', length: 64 })
  stepId!: string;

  /** The claim: which record of which system, and the fields claimed (`claimed`). */
  @Column({ type: 'varchar', length: 64 })
  system!: string;

  @Column({ type: 'varchar', length: 64 })
  entity!: string;

  @Column({ name: 'record_id', type: 'varchar', length: 128 })
  recordId!: string;

  /** pending: reads are out; settled: every check has a result and the verdict was sent. */
  @Column({ type: 'varchar', length: 16, default: 'settled' })
  status!: string;

  /** Null while pending. */
  @Column({ type: 'varchar', length: 16, nullable: true })
  verdict!: string | null;

  @Column({ type: 'jsonb', nullable: true })
  claimed!: Record<string, unknown> | null;

  /** The record(s) read back from the system of record. */
  @Column({ type: 'jsonb', nullable: true })
  observed!: Record<string, unknown> | null;

  /** The call whose claim this is. */
  @Column({ type: 'varchar', length: 128, nullable: true })
  tool!: string | null;

  @Column({ name: 'execution_id', type: 'varchar', length: 64, nullable: true })
  executionId!: string | null;

  @Column({ type: 'jsonb', nullable: true })
  arguments!: Record<string, unknown> | null;

  @Column({ type: 'jsonb', nullable: true })
  output!: Record<string, unknown> | null;

  /** The tool's checks as they were when the verification began, each with its state and result. */
  @Column({ type: 'jsonb', default: () => "'[]'" })
  checks!: unknown[];

  /** The verdict's reasons: each check's outcome. */
  @Column({ type: 'jsonb', default: () => "'[]'" })
  reasons!: unknown[];

  @CreateDateColumn({ name: 'created_at', type: 'timestamptz' })
  createdAt!: Date;

  @Column({ name: 'settled_at', type: 'timestamptz', nullable: true })
  settledAt!: Date | null;
}

/**
 * The tools the verifier knows, as the registry last said: their verification checks are the
 * only way a claim gets confirmed. A retired tool keeps its row (status `retired`) so that an
 * older registration delivered late cannot bring it back.
 */
@Entity({ name: 'tool_specs' })
export class ToolSpecRecord {
  @PrimaryColumn({ type: 'varchar', length: 128 })
  name!: string;

  @Column({ type: 'varchar', length: 32 })
  version!: string;

  @Column({ name: 'side_effect', type: 'varchar', length: 16 })
  sideEffect!: string;

  @Column({ type: 'jsonb', default: () => "'[]'" })
  verification!: unknown[];

  @Column({ type: 'varchar', length: 16 })
  status!: string;

  /** When the registry made the change: an older event never overwrites a newer one. */
  @Column({ name: 'changed_at', type: 'timestamptz' })
  changedAt!: Date;
}

export const VERIFIER_ENTITIES = [VerificationRecord, ToolSpecRecord];
