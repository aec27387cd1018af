import { Column, CreateDateColumn, Entity, Index, PrimaryColumn } from 'typeorm';
import { BASELINE_ENTITIES } from './baselines/baseline.entities';
import { UnstorableRecord } from './unstorable-record.entity';

/** The append-only audit ledger: every event of every run, hash-chained. */
@Entity({ name: 'audit_records' })
@Index('audit_records_run_idx', ['runId', 'seq'])
export class AuditRecord {
  @PrimaryColumn({ type: 'bigint' })
  seq!: string;

  @Index('audit_records_event_key', { unique: true })
  @Column({ name: 'event_id', type: 'varchar', length: 255 })
  eventId!: string;

  @Column({ type: 'varchar', length: 128 })
  type!: string;

  @Column({ name: 'run_id', type: 'varchar', length: 128, nullable: true })
  runId!: string | null;

  @Column({ type: 'varchar', length: 255 })
  topic!: string;

  @Column({ name: 'occurred_at', type: 'timestamptz' })
  occurredAt!: Date;

  @CreateDateColumn({ name: 'recorded_at', type: 'timestamptz' })
  recordedAt!: Date;

  @Column({ type: 'jsonb' })
  payload!: Record<string, unknown>;

  @Column({ name: 'payload_digest', type: 'char', length: 64 })
  payloadDigest!: string;

  @Column({ name: 'prev_hash', type: 'char', length: 64 })
  prevHash!: string;

  @Column({ type: 'char', length: 64 })
  hash!: string;
}

/** The head of the chain; its row lock serializes appends across consumers. */
@Entity({ name: 'audit_chain_head' })
export class AuditChainHead {
  @PrimaryColumn({ type: 'smallint' })
  id!: number;

  @Column({ type: 'bigint' })
  seq!: string;

  @Column({ type: 'char', length: 64 })
  hash!: string;
}

/**
 * A signed checkpoint of the chain head (see @govmesh/audit-chain): the statement's fields, its
 * signature and the key it was signed with. Append-only like the ledger, and owned by the same role.
 */
@Entity({ name: 'audit_checkpoints' })
export class AuditCheckpointRecord {
  @PrimaryColumn({ type: 'bigint' })
  seq!: string;

  @Column({ name: 'from_seq', type: 'bigint' })
  fromSeq!: string;

  @Column({ type: 'char', length: 64 })
  head!: string;

  @Column({ type: 'char', length: 64 })
  root!: string;

  @Column({ type: 'char', length: 64 })
  prev!: string;

  /** The statement's time exactly as signed. */
  @Column({ name: 'signed_time', type: 'varchar', length: 40 })
  signedTime!: string;

  @Column({ name: 'key_id', type: 'char', length: 16 })
  keyId!: string;

  @Column({ type: 'varchar', length: 128 })
  signature!: string;

  @CreateDateColumn({ name: 'recorded_at', type: 'timestamptz' })
  recordedAt!: Date;
}

/** Where the last intact verification ended: the next one starts from this checkpoint. */
@Entity({ name: 'audit_verification' })
export class AuditVerificationState {
  @PrimaryColumn({ type: 'smallint' })
  id!: number;

  @Column({ name: 'checkpoint_seq', type: 'bigint' })
  checkpointSeq!: string;

  @Column({ name: 'verified_at', type: 'timestamptz' })
  verifiedAt!: Date;
}

/** Dead letters as an operator sees them: what was rejected, where from, and why. */
@Entity({ name: 'dead_letters' })
@Index('dead_letters_reason_idx', ['reasonCode'])
export class DeadLetterRecord {
  @PrimaryColumn({ type: 'varchar', length: 255 })
  id!: string;

  @Column({ name: 'reason_code', type: 'varchar', length: 64 })
  reasonCode!: string;

  @Column({ type: 'text' })
  reason!: string;

  @Column({ name: 'original_topic', type: 'varchar', length: 255 })
  originalTopic!: string;

  @Column({ name: 'original_partition', type: 'integer' })
  originalPartition!: number;

  @Column({ name: 'original_offset', type: 'varchar', length: 32 })
  originalOffset!: string;

  @Column({ name: 'consumer_group', type: 'varchar', length: 255 })
  consumerGroup!: string;

  /** Any length: a dead letter keeps the key it came with, even one refused as too long. */
  @Column({ name: 'message_key', type: 'text', nullable: true })
  messageKey!: string | null;

  @Column({ type: 'jsonb' })
  headers!: Record<string, string>;

  /** The original value, as UTF-8 text (base64 when it is not valid UTF-8). */
  @Column({ type: 'text' })
  value!: string;

  @Column({ name: 'value_encoding', type: 'varchar', length: 8 })
  valueEncoding!: 'utf8' | 'base64';

  @Column({ name: 'failed_at', type: 'timestamptz', nullable: true })
  failedAt!: Date | null;

  @CreateDateColumn({ name: 'recorded_at', type: 'timestamptz' })
  recordedAt!: Date;
}

export const TELEMETRY_ENTITIES = [AuditRecord, AuditChainHead, AuditCheckpointRecord, AuditVerificationState, DeadLetterRecord, UnstorableRecord, ...BASELINE_ENTITIES];
