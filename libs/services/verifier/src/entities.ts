import { Column, CreateDateColumn, Entity, Index, PrimaryColumn } from 'typeorm';

/** What the verifier read back from the system of record, and its verdict. */
@Entity({ name: 'verifications' })
@Index('verifications_run_idx', ['runId'])
export class VerificationRecord {
  @PrimaryColumn({ type: 'uuid' })
  id!: string;

  @Column({ name: 'run_id', type: 'varchar', length: 128 })
  runId!: string;

  @Column({ name: 'step_id', type: 'varchar', length: 64 })
  stepId!: string;

  @Column({ type: 'varchar', length: 64 })
  system!: string;

  @Column({ type: 'varchar', length: 64 })
  entity!: string;

  @Column({ name: 'record_id', type: 'varchar', length: 128 })
  recordId!: string;

  @Column({ type: 'varchar', length: 16 })
  verdict!: string;

  @Column({ type: 'jsonb', nullable: true })
  claimed!: Record<string, unknown> | null;

  @Column({ type: 'jsonb', nullable: true })
  observed!: Record<string, unknown> | null;

  @CreateDateColumn({ name: 'created_at', type: 'timestamptz' })
  createdAt!: Date;
}

export const VERIFIER_ENTITIES = [VerificationRecord];
