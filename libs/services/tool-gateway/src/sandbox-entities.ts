import { Column, CreateDateColumn, Entity, Index, PrimaryColumn } from 'typeorm';

/**
 * The sandbox systems of record of the three seed workflows (ERP, CRM, mail outbox, ticketing),
 * in the `sandbox` schema next to the accounts. Tools act on them; the verifier reads them back
 * with its own queries. Money is `numeric(14,2)` (the driver answers a string: convert with
 * `Number`).
 */

/** ERP: an invoice waiting for a decision. */
@Entity({ name: 'invoices', schema: 'sandbox' })
export class SandboxInvoice {
  @PrimaryColumn({ type: 'varchar', length: 32 })
  id!: string;

  @Column({ type: 'varchar', length: 128 })
  vendor!: string;

  @Column({ type: 'numeric', precision: 14, scale: 2 })
  amount!: string;

  @Column({ type: 'varchar', length: 3 })
  currency!: string;

  @Column({ type: 'varchar', length: 16 })
  status!: 'open' | 'approved' | 'paid' | 'on_hold';

  /** Why the invoice is an exception (free text for the reviewer). */
  @Column({ type: 'text', default: '' })
  reason!: string;

  /**
   * Test hook: the ERP "drops the write". `invoices.approve_payment` on such an invoice answers
   * success with its usual claim, but neither the status nor the payments change, so only the
   * verifier's read-back can tell. Seeded on inv-1009.
   */
  @Column({ name: 'drop_writes', type: 'boolean', default: false })
  dropWrites!: boolean;

  /**
   * Test hook: the ERP is unavailable for this invoice. While non-zero, `invoices.approve_payment`
   * fails with the retryable code `system_unavailable` and changes nothing; a positive number
   * counts down by one per failed call (fail N times, then work), a negative one fails every
   * call. Seeded -1 on inv-1010.
   */
  @Column({ name: 'unavailable_calls', type: 'integer', default: 0 })
  unavailableCalls!: number;

  @Column({ name: 'updated_at', type: 'timestamptz' })
  updatedAt!: Date;
}

/** ERP: a payment approved for an invoice; one per idempotency key. */
@Entity({ name: 'payments', schema: 'sandbox' })
@Index('payments_invoice_idx', ['invoiceId'])
export class SandboxPayment {
  @PrimaryColumn({ type: 'varchar', length: 64 })
  id!: string;

  @Column({ name: 'invoice_id', type: 'varchar', length: 32 })
  invoiceId!: string;

  @Column({ type: 'numeric', precision: 14, scale: 2 })
  amount!: string;

  @Column({ type: 'varchar', length: 3 })
  currency!: string;

  @Index('payments_idempotency_key', { unique: true })
  @Column({ name: 'idempotency_key', type: 'varchar', length: 255 })
  idempotencyKey!: string;

  @CreateDateColumn({ name: 'created_at', type: 'timestamptz' })
  createdAt!: Date;
}

/** CRM: a customer contract coming up for renewal. */
@Entity({ name: 'contracts', schema: 'sandbox' })
export class SandboxContract {
  @PrimaryColumn({ type: 'varchar', length: 32 })
  id!: string;

  @Column({ type: 'varchar', length: 128 })
  customer!: string;

  /** The customer's mail domain: renewal mail goes to addresses under it. */
  @Column({ name: 'customer_email_domain', type: 'varchar', length: 253 })
  customerEmailDomain!: string;

  @Column({ name: 'end_date', type: 'date' })
  endDate!: string;

  @Column({ type: 'varchar', length: 16 })
  status!: 'active' | 'renewal_drafted' | 'renewed' | 'expired';

  @Column({ name: 'renewal_draft', type: 'text', nullable: true })
  renewalDraft!: string | null;

  @Column({ name: 'updated_at', type: 'timestamptz' })
  updatedAt!: Date;
}

/** Mail outbox: what left (or would leave) the company; one message per idempotency key. */
@Entity({ name: 'outbound_mail', schema: 'sandbox' })
export class SandboxOutboundMail {
  @PrimaryColumn({ type: 'varchar', length: 64 })
  id!: string;

  @Column({ name: 'to', type: 'varchar', length: 320 })
  to!: string;

  @Column({ type: 'varchar', length: 300 })
  subject!: string;

  @Column({ type: 'text' })
  body!: string;

  @Column({ name: 'contract_id', type: 'varchar', length: 32, nullable: true })
  contractId!: string | null;

  @Index('outbound_mail_idempotency_key', { unique: true })
  @Column({ name: 'idempotency_key', type: 'varchar', length: 255 })
  idempotencyKey!: string;

  @CreateDateColumn({ name: 'created_at', type: 'timestamptz' })
  createdAt!: Date;
}

/** Ticketing: a support ticket. */
@Entity({ name: 'tickets', schema: 'sandbox' })
export class SandboxTicket {
  @PrimaryColumn({ type: 'varchar', length: 32 })
  id!: string;

  @Column({ type: 'varchar', length: 300 })
  subject!: string;

  @Column({ type: 'text', default: '' })
  body!: string;

  @Column({ type: 'varchar', length: 16 })
  priority!: 'low' | 'normal' | 'high' | 'urgent';

  @Column({ type: 'varchar', length: 16 })
  status!: 'open' | 'triaged' | 'closed';

  @Column({ name: 'assignee_group', type: 'varchar', length: 128, nullable: true })
  assigneeGroup!: string | null;

  @Column({ name: 'updated_at', type: 'timestamptz' })
  updatedAt!: Date;
}

/**
 * The sandbox's own idempotency ledger: every write a tool made, once per idempotency key, with
 * the result it answered. A call repeated with the same key changes nothing and answers the
 * stored result, as a system of record deduplicating by key would.
 */
@Entity({ name: 'write_requests', schema: 'sandbox' })
export class SandboxWriteRequest {
  @PrimaryColumn({ name: 'idempotency_key', type: 'varchar', length: 255 })
  idempotencyKey!: string;

  @Column({ type: 'varchar', length: 128 })
  tool!: string;

  @Column({ name: 'record_id', type: 'varchar', length: 64 })
  recordId!: string;

  @Column({ type: 'jsonb' })
  result!: Record<string, unknown>;

  @CreateDateColumn({ name: 'created_at', type: 'timestamptz' })
  createdAt!: Date;
}

/**
 * Document store: one version of a document (a contract's text, say), immutable once stored. The
 * read tool `documents.read` answers a version's whole text; the verifier's citation checks read
 * through it to confirm that a quoted clause is in the cited version at the cited offset.
 */
@Entity({ name: 'document_versions', schema: 'sandbox' })
export class SandboxDocumentVersion {
  @PrimaryColumn({ name: 'document_id', type: 'varchar', length: 64 })
  documentId!: string;

  /** 1, 2, 3…: the newest is the document's current version. */
  @PrimaryColumn({ type: 'integer' })
  version!: number;

  @Column({ type: 'varchar', length: 300 })
  title!: string;

  /** The contract the document belongs to, when it is a contract's. */
  @Column({ name: 'contract_id', type: 'varchar', length: 32, nullable: true })
  contractId!: string | null;

  @Column({ type: 'text' })
  text!: string;

  @Column({ name: 'created_at', type: 'timestamptz' })
  createdAt!: Date;
}

export const SANDBOX_SYSTEM_ENTITIES = [SandboxInvoice, SandboxPayment, SandboxContract, SandboxOutboundMail, SandboxTicket, SandboxWriteRequest, SandboxDocumentVersion];
