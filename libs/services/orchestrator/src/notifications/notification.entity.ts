import { Column, CreateDateColumn, Entity, Index, PrimaryColumn } from 'typeorm';

/** What happened to the item a notification is about. */
export type NotificationEvent = 'arrived' | 'sla_near' | 'escalated';

/** `pending` until delivered, given up on (`failed`), or found to have no webhook configured. */
export type NotificationStatus = 'pending' | 'delivered' | 'failed' | 'no_webhook';

export const NOTIFICATION_EVENTS: readonly NotificationEvent[] = ['arrived', 'sla_near', 'escalated'];

/**
 * One notification to one reviewer group, written in the transaction of the decision that caused
 * it and delivered afterwards to the group's webhook, outside any transaction. While pending,
 * `next_attempt_at` is when it is due, and while it is being posted, the end of the poster's lease.
 */
@Entity({ name: 'notifications' })
@Index('notifications_due_idx', ['status', 'nextAttemptAt'])
export class NotificationRecord {
  @PrimaryColumn({ type: 'uuid' })
  id!: string;

  /** The approval (or escalation) the reviewers are asked about. */
  @Column({ name: 'item_id', type: 'varchar', length: 128 })
  itemId!: string;

  @Column({ name: 'run_id', type: 'varchar', length: 128 })
  runId!: string;

  @Column({ name: 'group_name', type: 'varchar', length: 128 })
  groupName!: string;

  @Column({ type: 'varchar', length: 16 })
  event!: NotificationEvent;

  /** The message as posted (`{"text": ...}`): essentials only, never secrets or the run's state. */
  @Column({ type: 'text' })
  text!: string;

  @Column({ type: 'varchar', length: 16 })
  status!: NotificationStatus;

  @Column({ type: 'integer', default: 0 })
  attempts!: number;

  @Column({ name: 'next_attempt_at', type: 'timestamptz', default: () => 'now()' })
  nextAttemptAt!: Date;

  /** Why the last attempt failed (status code or error; never the webhook URL). */
  @Column({ name: 'last_error', type: 'text', nullable: true })
  lastError!: string | null;

  @CreateDateColumn({ name: 'created_at', type: 'timestamptz' })
  createdAt!: Date;

  @Column({ name: 'delivered_at', type: 'timestamptz', nullable: true })
  deliveredAt!: Date | null;
}

export const NOTIFICATION_ENTITIES = [NotificationRecord];
