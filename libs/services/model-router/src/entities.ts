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

  /** How many tools the catalog offered the model on this call. */
  @Column({ name: 'tools_offered', type: 'integer', default: 0 })
  toolsOffered!: number;

  /** Which catalog that was: a digest of the offered tools' names and versions (null before the catalog existed). */
  @Column({ name: 'tool_catalog', type: 'varchar', length: 16, nullable: true })
  toolCatalog!: string | null;

  /** Why the router refused this call's tool-call proposal (`tool_arguments_invalid`, ...); null when it passed or proposed none. */
  @Column({ name: 'proposal_refused', type: 'varchar', length: 64, nullable: true })
  proposalRefused!: string | null;

  @CreateDateColumn({ name: 'created_at', type: 'timestamptz' })
  createdAt!: Date;
}

/**
 * The tools the router offers models and checks their proposals against, learned only from the
 * tool manifest's `govmesh.tool.registered.v1` events (the tool gateway's): each tool at its newest
 * version, and of one version the latest event. A retired tool keeps its row (status `retired`) so
 * that an older registration delivered late cannot bring it back.
 */
@Entity({ name: 'tools' })
export class RouterToolRecord {
  @PrimaryColumn({ type: 'varchar', length: 128 })
  name!: string;

  /** The manifest version (semver): an event of an older version never replaces it. */
  @Column({ type: 'varchar', length: 32 })
  version!: string;

  @Column({ type: 'text' })
  description!: string;

  /** The JSON Schema a proposal's arguments must match. */
  @Column({ name: 'input_schema', type: 'jsonb' })
  inputSchema!: Record<string, unknown>;

  @Column({ name: 'side_effect', type: 'varchar', length: 16 })
  sideEffect!: string;

  /** `retired`: never offered, and a proposal naming it is refused. */
  @Column({ type: 'varchar', length: 16 })
  status!: 'active' | 'retired';

  /** The time of the event this row is from: of two events of one version, the later wins. */
  @Column({ name: 'updated_at', type: 'timestamptz' })
  updatedAt!: Date;
}

export const MODEL_ROUTER_ENTITIES = [ModelCallRecord, RouterToolRecord];
