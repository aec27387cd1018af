import { Column, CreateDateColumn, Entity, Index, PrimaryColumn } from 'typeorm';

/** The model-call ledger: which model answered, why it was chosen, what it cost. */
@Entity({ name: 'model_calls' })
@Index('model_calls_run_idx', ['runId'])
export class ModelCallRecord {
  @PrimaryColumn({ type: 'uuid' })
  id!: string;

  @Column({ name: 'run_id', type: 'varchar', length: 128 })
  runId!: string;

  @Column({ name: 'step_id', type: 'varchar', length: 64 })
  stepId!: string;

  @Column({ type: 'varchar', length: 128 })
  model!: string;

  @Column({ type: 'varchar', length: 64 })
  provider!: string;

  @Column({ type: 'varchar', length: 16 })
  risk!: string;

  @Column({ name: 'routing_reason', type: 'text' })
  routingReason!: string;

  @Column({ type: 'real' })
  confidence!: number;

  @Column({ name: 'input_tokens', type: 'integer' })
  inputTokens!: number;

  @Column({ name: 'output_tokens', type: 'integer' })
  outputTokens!: number;

  @CreateDateColumn({ name: 'created_at', type: 'timestamptz' })
  createdAt!: Date;
}

export const MODEL_ROUTER_ENTITIES = [ModelCallRecord];
