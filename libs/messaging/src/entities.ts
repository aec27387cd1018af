import { Column, CreateDateColumn, Entity, Index, PrimaryColumn, PrimaryGeneratedColumn } from 'typeorm';

/**
 * Outgoing events, written in the same transaction as the state change that caused them.
 * The relay deletes a row once the broker has acknowledged it. Each service has this table
 * in its own schema (the DataSource's schema decides which).
 */
@Entity({ name: 'outbox' })
export class OutboxRecord {
  @PrimaryGeneratedColumn('increment', { type: 'bigint' })
  seq!: string;

  @Index('outbox_event_id_key', { unique: true })
  @Column({ name: 'event_id', type: 'varchar', length: 128 })
  eventId!: string;

  @Column({ type: 'varchar', length: 255 })
  topic!: string;

  @Column({ name: 'message_key', type: 'varchar', length: 255, nullable: true })
  messageKey!: string | null;

  @Column({ type: 'text' })
  value!: string;

  @Column({ type: 'jsonb' })
  headers!: Record<string, string>;

  @CreateDateColumn({ name: 'created_at', type: 'timestamptz' })
  createdAt!: Date;
}

/** Ids of events already handled, recorded in the same transaction as their effects. */
@Entity({ name: 'inbox' })
export class InboxRecord {
  @PrimaryColumn({ name: 'event_id', type: 'varchar', length: 255 })
  eventId!: string;

  @Column({ type: 'varchar', length: 255 })
  topic!: string;

  @Index('inbox_received_at_idx')
  @CreateDateColumn({ name: 'received_at', type: 'timestamptz' })
  receivedAt!: Date;
}

export const MESSAGING_ENTITIES = [OutboxRecord, InboxRecord];
