import { Column, CreateDateColumn, Entity, PrimaryColumn } from 'typeorm';

/**
 * A dead letter telemetry could not record even after retries, kept here with its reason instead
 * of going back to the dead-letter topic (where it would loop). Every column holds any bytes:
 * the key, headers (as JSON) and value are bytea, and the reason is stored escaped.
 */
@Entity({ name: 'unstorable_records' })
export class UnstorableRecord {
  /** `<topic>:<partition>:<offset>` of the message as telemetry received it. */
  @PrimaryColumn({ type: 'varchar', length: 255 })
  id!: string;

  @Column({ type: 'varchar', length: 255 })
  topic!: string;

  @Column({ type: 'integer' })
  partition!: number;

  @Column({ name: 'offset', type: 'varchar', length: 32 })
  offset!: string;

  @Column({ name: 'message_key', type: 'bytea', nullable: true })
  messageKey!: Buffer | null;

  /** The message's headers as UTF-8 JSON. */
  @Column({ type: 'bytea' })
  headers!: Buffer;

  @Column({ type: 'bytea', nullable: true })
  value!: Buffer | null;

  @Column({ name: 'reason_code', type: 'varchar', length: 64 })
  reasonCode!: string;

  /** Why it could not be recorded (escaped as @govmesh/contracts `toStorableString` does). */
  @Column({ type: 'text' })
  reason!: string;

  @CreateDateColumn({ name: 'recorded_at', type: 'timestamptz' })
  recordedAt!: Date;
}
