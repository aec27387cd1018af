import { createHash, randomUUID } from 'node:crypto';
import type { DataSource, EntityManager } from 'typeorm';
import { queryRows } from '@govmesh/messaging';
import { SandboxContract, SandboxDocumentVersion, SandboxInvoice, SandboxTicket } from './sandbox-entities';
import { delay, type ToolCall, type ToolDefinition, type ToolResult } from './tool-definition';

/**
 * Tools over the sandbox systems of record of the three seed workflows: invoice exceptions (ERP),
 * contract renewals (CRM and mail outbox) and support triage (ticketing).
 *
 * Every write acts once per idempotency key: the sandbox records the key and the result it
 * answered in `sandbox.write_requests` in the same transaction as the change, so the same key
 * never changes a system twice and always answers the same result. A write that fails changes
 * nothing and does not use up its key (a retry under it is evaluated again).
 *
 * Test hooks (on `sandbox.invoices`, see SandboxInvoice):
 * - `drop_writes = true` (seeded on inv-1009): `invoices.approve_payment` answers success with its
 *   usual claim but the record does not change, so the verifier reports a mismatch.
 * - `unavailable_calls <> 0` (seeded -1 on inv-1010): `invoices.approve_payment` fails with the
 *   retryable code `system_unavailable`; a positive count fails that many calls, then works.
 */

const INVOICE_ID = { type: 'string', pattern: '^inv-[0-9]{3,12}$' };
const CONTRACT_ID = { type: 'string', pattern: '^ctr-[0-9]{3,12}$' };
const TICKET_ID = { type: 'string', pattern: '^tkt-[0-9]{3,12}$' };
const PRIORITIES = ['low', 'normal', 'high', 'urgent'] as const;
const TICKET_STATUSES = ['open', 'triaged', 'closed'] as const;

const failed = (code: string, message: string, retryable = false): ToolResult => ({ status: 'failed', reasons: [{ code, message }], ...(retryable ? { retryable } : {}) });

/** Thrown inside a sandbox transaction to roll it back and answer the result instead. */
class Refusal extends Error {
  constructor(readonly result: ToolResult) {
    super(result.reasons[0]?.message ?? 'refused');
  }
}

async function storedResult(db: DataSource | EntityManager, key: string): Promise<ToolResult | undefined> {
  const rows: Array<{ result: ToolResult }> = await queryRows(db, `SELECT result FROM "sandbox"."write_requests" WHERE idempotency_key = $1`, [key]);
  return rows[0]?.result;
}

/**
 * Performs one write of a sandbox system at most once per idempotency key. `write` runs in a
 * transaction that first claims the key (a concurrent call with the same key waits for it, then
 * answers the stored result); it answers the result to store, or throws a Refusal to roll back.
 */
async function writeOnce(sandbox: DataSource, tool: string, recordId: string, call: ToolCall, write: (m: EntityManager) => Promise<ToolResult>): Promise<ToolResult> {
  try {
    return await sandbox.transaction(async (m) => {
      const claimed: unknown[] = await queryRows(m, 
        `INSERT INTO "sandbox"."write_requests" (idempotency_key, tool, record_id, result) VALUES ($1, $2, $3, '{}') ON CONFLICT (idempotency_key) DO NOTHING RETURNING idempotency_key`,
        [call.idempotencyKey, tool, recordId],
      );
      if (claimed.length === 0) {
        const stored = await storedResult(m, call.idempotencyKey);
        if (stored) return stored;
        throw new Refusal(failed('idempotency_conflict', `the idempotency key of this call was used by another call that left no result`));
      }
      const result = await write(m);
      if (result.status !== 'succeeded') throw new Refusal(result);
      await queryRows(m, `UPDATE "sandbox"."write_requests" SET result = $2 WHERE idempotency_key = $1`, [call.idempotencyKey, JSON.stringify(result)]);
      return result;
    });
  } catch (err) {
    if (err instanceof Refusal) return err.result;
    throw err;
  }
}

const sha256 = (text: string): string => createHash('sha256').update(text, 'utf8').digest('hex');

// ---------------------------------------------------------------------------------------------
// ERP: invoices and payments

interface InvoiceRow {
  id: string;
  vendor: string;
  amount: string | number;
  currency: string;
  status: string;
  reason: string;
  drop_writes: boolean;
  payment_count: number;
}

const INVOICE_SELECT = `SELECT i.id, i.vendor, i.amount, i.currency, i.status, i.reason, i.drop_writes,
  (SELECT count(*)::int FROM "sandbox"."payments" p WHERE p.invoice_id = i.id) AS payment_count
  FROM "sandbox"."invoices" i WHERE i.id = $1`;

const invoiceFields = (r: InvoiceRow) => ({ vendor: r.vendor, amount: Number(r.amount), currency: r.currency, status: r.status, paymentCount: r.payment_count });

const lookupInvoice: ToolDefinition = {
  name: 'invoices.lookup',
  connection: 'sandbox-erp',
  outputSchema: {
    type: 'object',
    required: ['invoiceId', 'vendor', 'amount', 'currency', 'status', 'paymentCount', 'reason'],
    additionalProperties: false,
    properties: {
      invoiceId: INVOICE_ID,
      vendor: { type: 'string' },
      amount: { type: 'number' },
      currency: { type: 'string', pattern: '^[A-Z]{3}$' },
      status: { type: 'string' },
      paymentCount: { type: 'integer', minimum: 0 },
      reason: { type: 'string' },
    },
  },
  description: 'Read an invoice (vendor, amount, currency, status, exception reason, payments) from the sandbox ERP',
  sideEffect: 'read',
  idempotent: true,
  inputSchema: { type: 'object', required: ['invoiceId'], additionalProperties: false, properties: { invoiceId: INVOICE_ID } },
  async execute(sandbox, args, call) {
    const invoiceId = args['invoiceId'] as string;
    await delay(call.latencyMs, call.signal);
    const [row] = (await queryRows(sandbox, INVOICE_SELECT, [invoiceId])) as InvoiceRow[];
    if (!row) return failed('invoice_not_found', `no invoice ${invoiceId} in the sandbox ERP`);
    const fields = invoiceFields(row);
    return {
      status: 'succeeded',
      output: { invoiceId, ...fields, reason: row.reason },
      claim: { system: 'sandbox', entity: 'invoice', id: invoiceId, fields },
      reasons: [{ code: 'read_completed', message: `read invoice ${invoiceId}` }],
    };
  },
};

const approvePayment: ToolDefinition = {
  name: 'invoices.approve_payment',
  connection: 'sandbox-erp',
  rateLimit: { perMinute: 600, burst: 60 },
  outputSchema: {
    type: 'object',
    required: ['invoiceId', 'status', 'amount', 'currency', 'paymentId'],
    additionalProperties: false,
    properties: {
      invoiceId: INVOICE_ID,
      status: { type: 'string', const: 'approved' },
      amount: { type: 'number', exclusiveMinimum: 0 },
      currency: { type: 'string', pattern: '^[A-Z]{3}$' },
      paymentId: { type: 'string', pattern: '^pay-' },
    },
  },
  description: 'Approve an open or on-hold invoice for payment: marks it approved and books exactly one payment of the invoice amount',
  sideEffect: 'write',
  idempotent: true,
  inputSchema: {
    type: 'object',
    required: ['invoiceId', 'amount', 'currency'],
    additionalProperties: false,
    properties: {
      invoiceId: INVOICE_ID,
      amount: { type: 'number', exclusiveMinimum: 0, maximum: 999999999999 },
      currency: { type: 'string', pattern: '^[A-Z]{3}$' },
    },
  },
  async execute(sandbox, args, call) {
    const invoiceId = args['invoiceId'] as string;
    const amount = args['amount'] as number;
    const currency = args['currency'] as string;
    await delay(call.latencyMs, call.signal);
    const stored = await storedResult(sandbox, call.idempotencyKey);
    if (stored) return stored;
    // Test hook: an unavailable ERP answers before anything is claimed or changed.
    const unavailable: unknown[] = await queryRows(sandbox, 
      `UPDATE "sandbox"."invoices" SET unavailable_calls = CASE WHEN unavailable_calls > 0 THEN unavailable_calls - 1 ELSE unavailable_calls END WHERE id = $1 AND unavailable_calls <> 0 RETURNING id`,
      [invoiceId],
    );
    if (unavailable.length > 0) return failed('system_unavailable', `the sandbox ERP is unavailable for invoice ${invoiceId}; nothing changed, the call may be retried`, true);
    return writeOnce(sandbox, approvePayment.name, invoiceId, call, async (m) => {
      const [row] = (await queryRows(m, `${INVOICE_SELECT} FOR UPDATE OF i`, [invoiceId])) as InvoiceRow[];
      if (!row) return failed('invoice_not_found', `no invoice ${invoiceId} in the sandbox ERP`);
      if (row.status !== 'open' && row.status !== 'on_hold') return failed('invoice_not_payable', `invoice ${invoiceId} is ${row.status}; only an open or on-hold invoice can be approved for payment`);
      if (Number(row.amount) !== amount) return failed('amount_mismatch', `invoice ${invoiceId} is for ${Number(row.amount)} ${row.currency}, not ${amount}`);
      if (row.currency !== currency) return failed('currency_mismatch', `invoice ${invoiceId} is in ${row.currency}, not ${currency}`);
      const paymentId = `pay-${randomUUID()}`;
      // Test hook: a system that "drops the write" answers success and changes nothing.
      if (!row.drop_writes) {
        await queryRows(m, `UPDATE "sandbox"."invoices" SET status = 'approved', updated_at = now() WHERE id = $1`, [invoiceId]);
        await queryRows(m, 
          `INSERT INTO "sandbox"."payments" (id, invoice_id, amount, currency, idempotency_key) VALUES ($1, $2, $3, $4, $5) ON CONFLICT (idempotency_key) DO NOTHING`,
          [paymentId, invoiceId, amount, currency, call.idempotencyKey],
        );
      }
      return {
        status: 'succeeded',
        output: { invoiceId, status: 'approved', amount, currency, paymentId },
        claim: { system: 'sandbox', entity: 'invoice', id: invoiceId, fields: { status: 'approved', amount, paymentCount: 1 } },
        reasons: [{ code: 'payment_approved', message: `invoice ${invoiceId} approved for payment of ${amount} ${currency} (payment ${paymentId})` }],
      };
    });
  },
};

// ---------------------------------------------------------------------------------------------
// CRM: contracts

interface ContractRow {
  id: string;
  customer: string;
  customer_email_domain: string;
  end_date: string;
  status: string;
  renewal_draft: string | null;
}

const CONTRACT_SELECT = `SELECT id, customer, customer_email_domain, end_date::text AS end_date, status, renewal_draft FROM "sandbox"."contracts" WHERE id = $1`;

const contractFields = (r: ContractRow) => ({ customer: r.customer, customerEmailDomain: r.customer_email_domain, endDate: r.end_date, status: r.status });

const lookupContract: ToolDefinition = {
  name: 'contracts.lookup',
  connection: 'sandbox-crm',
  description: 'Read a customer contract (customer, mail domain, end date, status, and the length and SHA-256 of its renewal draft) from the sandbox CRM',
  sideEffect: 'read',
  idempotent: true,
  inputSchema: { type: 'object', required: ['contractId'], additionalProperties: false, properties: { contractId: CONTRACT_ID } },
  async execute(sandbox, args, call) {
    const contractId = args['contractId'] as string;
    await delay(call.latencyMs, call.signal);
    const [row] = (await queryRows(sandbox, CONTRACT_SELECT, [contractId])) as ContractRow[];
    if (!row) return failed('contract_not_found', `no contract ${contractId} in the sandbox CRM`);
    const fields = contractFields(row);
    return {
      status: 'succeeded',
      output: {
        contractId,
        ...fields,
        renewalDraftLength: row.renewal_draft === null ? null : row.renewal_draft.length,
        renewalDraftSha256: row.renewal_draft === null ? null : sha256(row.renewal_draft),
      },
      claim: { system: 'sandbox', entity: 'contract', id: contractId, fields },
      reasons: [{ code: 'read_completed', message: `read contract ${contractId}` }],
    };
  },
};

const draftRenewal: ToolDefinition = {
  name: 'contracts.draft_renewal',
  connection: 'sandbox-crm',
  description: "Store a renewal draft on a contract in the sandbox CRM (the contract's status becomes renewal_drafted)",
  sideEffect: 'write',
  idempotent: true,
  inputSchema: {
    type: 'object',
    required: ['contractId', 'draft'],
    additionalProperties: false,
    properties: { contractId: CONTRACT_ID, draft: { type: 'string', minLength: 1, maxLength: 8000 } },
  },
  async execute(sandbox, args, call) {
    const contractId = args['contractId'] as string;
    const draft = args['draft'] as string;
    await delay(call.latencyMs, call.signal);
    return writeOnce(sandbox, draftRenewal.name, contractId, call, async (m) => {
      const updated: unknown[] = await queryRows(m, 
        `UPDATE "sandbox"."contracts" SET renewal_draft = $2, status = 'renewal_drafted', updated_at = now() WHERE id = $1 AND status IN ('active', 'renewal_drafted') RETURNING id`,
        [contractId, draft],
      );
      if (updated.length === 0) {
        const [row] = (await queryRows(m, CONTRACT_SELECT, [contractId])) as ContractRow[];
        return row
          ? failed('contract_not_renewable', `contract ${contractId} is ${row.status}; only an active contract can get a renewal draft`)
          : failed('contract_not_found', `no contract ${contractId} in the sandbox CRM`);
      }
      const fields = { status: 'renewal_drafted', renewalDraftLength: draft.length, renewalDraftSha256: sha256(draft) };
      return {
        status: 'succeeded',
        output: { contractId, ...fields },
        claim: { system: 'sandbox', entity: 'contract', id: contractId, fields },
        reasons: [{ code: 'renewal_drafted', message: `stored a renewal draft of ${draft.length} characters on contract ${contractId}` }],
      };
    });
  },
};

// ---------------------------------------------------------------------------------------------
// Mail outbox

const sendExternalMail: ToolDefinition = {
  name: 'mail.send_external',
  connection: 'sandbox-mail',
  rateLimit: { perMinute: 120, burst: 30 },
  description: 'Send a mail outside the company (through the sandbox outbox), optionally about a contract',
  sideEffect: 'external_send',
  idempotent: true,
  inputSchema: {
    type: 'object',
    required: ['to', 'subject', 'body'],
    additionalProperties: false,
    properties: {
      to: { type: 'string', maxLength: 320, pattern: '^[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(\\.[A-Za-z0-9-]+)*\\.[A-Za-z]{2,}$' },
      subject: { type: 'string', minLength: 1, maxLength: 300 },
      body: { type: 'string', minLength: 1, maxLength: 20000 },
      contractId: CONTRACT_ID,
    },
  },
  async execute(sandbox, args, call) {
    const to = args['to'] as string;
    const subject = args['subject'] as string;
    const body = args['body'] as string;
    const contractId = (args['contractId'] as string | undefined) ?? null;
    await delay(call.latencyMs, call.signal);
    return writeOnce(sandbox, sendExternalMail.name, contractId ?? to.slice(0, 64), call, async (m) => {
      if (contractId && ((await queryRows(m, `SELECT 1 FROM "sandbox"."contracts" WHERE id = $1`, [contractId])) as unknown[]).length === 0) {
        return failed('contract_not_found', `no contract ${contractId} in the sandbox CRM`);
      }
      const inserted: Array<{ id: string }> = await queryRows(m, 
        `INSERT INTO "sandbox"."outbound_mail" (id, "to", subject, body, contract_id, idempotency_key) VALUES ($1, $2, $3, $4, $5, $6)
         ON CONFLICT (idempotency_key) DO NOTHING RETURNING id`,
        [`mail-${randomUUID()}`, to, subject, body, contractId, call.idempotencyKey],
      );
      const mailId = inserted[0]?.id ?? ((await queryRows(m, `SELECT id FROM "sandbox"."outbound_mail" WHERE idempotency_key = $1`, [call.idempotencyKey])) as Array<{ id: string }>)[0].id;
      return {
        status: 'succeeded',
        output: { mailId, to, subject, ...(contractId ? { contractId } : {}) },
        claim: { system: 'sandbox', entity: 'outbound_mail', id: mailId, fields: { to, subject } },
        reasons: [{ code: 'mail_sent', message: `mail ${mailId} to ${to} placed in the outbox` }],
      };
    });
  },
};

const lookupMail: ToolDefinition = {
  name: 'mail.lookup',
  connection: 'sandbox-mail',
  description: 'Read a mail of the sandbox outbox (recipient, subject, contract) by its id',
  sideEffect: 'read',
  idempotent: true,
  inputSchema: { type: 'object', required: ['mailId'], additionalProperties: false, properties: { mailId: { type: 'string', pattern: '^mail-[0-9a-f-]{36}$' } } },
  async execute(sandbox, args, call) {
    const mailId = args['mailId'] as string;
    await delay(call.latencyMs, call.signal);
    const [row] = (await queryRows(sandbox, `SELECT id, "to", subject, contract_id FROM "sandbox"."outbound_mail" WHERE id = $1`, [mailId])) as Array<{ id: string; to: string; subject: string; contract_id: string | null }>;
    if (!row) return failed('mail_not_found', `no mail ${mailId} in the sandbox outbox`);
    const fields = { to: row.to, subject: row.subject };
    return {
      status: 'succeeded',
      output: { mailId, ...fields, contractId: row.contract_id },
      claim: { system: 'sandbox', entity: 'outbound_mail', id: mailId, fields },
      reasons: [{ code: 'read_completed', message: `read mail ${mailId}` }],
    };
  },
};

// ---------------------------------------------------------------------------------------------
// Ticketing

interface TicketRow {
  id: string;
  subject: string;
  body: string;
  priority: string;
  status: string;
  assignee_group: string | null;
}

const ticketFields = (r: TicketRow) => ({ subject: r.subject, priority: r.priority, status: r.status, assigneeGroup: r.assignee_group });

const lookupTicket: ToolDefinition = {
  name: 'tickets.lookup',
  connection: 'sandbox-tickets',
  description: 'Read a support ticket (subject, body, priority, status, assignee group) from the sandbox ticketing system',
  sideEffect: 'read',
  idempotent: true,
  inputSchema: { type: 'object', required: ['ticketId'], additionalProperties: false, properties: { ticketId: TICKET_ID } },
  async execute(sandbox, args, call) {
    const ticketId = args['ticketId'] as string;
    await delay(call.latencyMs, call.signal);
    const [row] = (await queryRows(sandbox, `SELECT id, subject, body, priority, status, assignee_group FROM "sandbox"."tickets" WHERE id = $1`, [ticketId])) as TicketRow[];
    if (!row) return failed('ticket_not_found', `no ticket ${ticketId} in the sandbox ticketing system`);
    const fields = ticketFields(row);
    return {
      status: 'succeeded',
      output: { ticketId, ...fields, body: row.body },
      claim: { system: 'sandbox', entity: 'ticket', id: ticketId, fields },
      reasons: [{ code: 'read_completed', message: `read ticket ${ticketId}` }],
    };
  },
};

const updateTicket: ToolDefinition = {
  name: 'tickets.update',
  connection: 'sandbox-tickets',
  description: 'Change the priority, status or assignee group of a support ticket (at least one of them)',
  sideEffect: 'write',
  idempotent: true,
  inputSchema: {
    type: 'object',
    required: ['ticketId'],
    // The ticket id and at least one field to change.
    minProperties: 2,
    additionalProperties: false,
    properties: {
      ticketId: TICKET_ID,
      priority: { type: 'string', enum: [...PRIORITIES] },
      status: { type: 'string', enum: [...TICKET_STATUSES] },
      assigneeGroup: { type: 'string', pattern: '^[a-z0-9][a-z0-9._-]{0,127}$' },
    },
  },
  async execute(sandbox, args, call) {
    const ticketId = args['ticketId'] as string;
    const changes: Record<string, string> = {};
    for (const field of ['priority', 'status', 'assigneeGroup'] as const) if (typeof args[field] === 'string') changes[field] = args[field] as string;
    await delay(call.latencyMs, call.signal);
    return writeOnce(sandbox, updateTicket.name, ticketId, call, async (m) => {
      const [row] = (await queryRows(m, 
        `UPDATE "sandbox"."tickets" SET priority = COALESCE($2, priority), status = COALESCE($3, status), assignee_group = COALESCE($4, assignee_group), updated_at = now()
         WHERE id = $1 RETURNING id, subject, body, priority, status, assignee_group`,
        [ticketId, changes['priority'] ?? null, changes['status'] ?? null, changes['assigneeGroup'] ?? null],
      )) as TicketRow[];
      if (!row) return failed('ticket_not_found', `no ticket ${ticketId} in the sandbox ticketing system`);
      return {
        status: 'succeeded',
        output: { ticketId, ...ticketFields(row) },
        claim: { system: 'sandbox', entity: 'ticket', id: ticketId, fields: changes },
        reasons: [{ code: 'ticket_updated', message: `ticket ${ticketId} updated (${Object.entries(changes).map(([k, v]) => `${k} ${v}`).join(', ')})` }],
      };
    });
  },
};

// ---------------------------------------------------------------------------------------------
// Document store: documents (contracts' texts) with immutable versions

const DOCUMENT_ID = { type: 'string', pattern: '^doc-[0-9]{3,12}$' };

interface DocumentVersionRow {
  document_id: string;
  version: number;
  title: string;
  contract_id: string | null;
  text: string;
  latest: number;
}

/**
 * One version of a document, whole: what the verifier's citation checks read (a citation check's
 * read tool answers `text` and `version`). `latest` reads the current version, and the answer
 * says which one that is: a citation of `latest` never passes a citation check, whose version
 * must be the one read.
 */
const readDocument: ToolDefinition = {
  name: 'documents.read',
  connection: 'sandbox-documents',
  description: 'Read one version of a document (its whole text, title, contract and SHA-256) from the sandbox document store; version "latest" reads the current one',
  sideEffect: 'read',
  idempotent: true,
  inputSchema: {
    type: 'object',
    required: ['documentId', 'version'],
    additionalProperties: false,
    properties: { documentId: DOCUMENT_ID, version: { type: 'string', pattern: '^(latest|[1-9][0-9]{0,8})$' } },
  },
  outputSchema: {
    type: 'object',
    required: ['documentId', 'version', 'latestVersion', 'title', 'contractId', 'text', 'length', 'sha256'],
    additionalProperties: false,
    properties: {
      documentId: DOCUMENT_ID,
      version: { type: 'string', pattern: '^[1-9][0-9]{0,8}$' },
      latestVersion: { type: 'string', pattern: '^[1-9][0-9]{0,8}$' },
      title: { type: 'string' },
      contractId: { anyOf: [CONTRACT_ID, { type: 'null' }] },
      text: { type: 'string' },
      length: { type: 'integer', minimum: 0, description: 'the text\'s length in Unicode code points' },
      sha256: { type: 'string', pattern: '^[0-9a-f]{64}$' },
    },
  },
  async execute(sandbox, args, call) {
    const documentId = args['documentId'] as string;
    const asked = args['version'] as string;
    await delay(call.latencyMs, call.signal);
    const [row] = (await queryRows(
      sandbox,
      `SELECT d.document_id, d.version, d.title, d.contract_id, d.text, (SELECT max(l.version) FROM "sandbox"."document_versions" l WHERE l.document_id = d.document_id) AS latest
       FROM "sandbox"."document_versions" d WHERE d.document_id = $1 ORDER BY (d.version = $2::int) DESC, d.version DESC LIMIT 1`,
      [documentId, asked === 'latest' ? 0 : Number(asked)],
    )) as DocumentVersionRow[];
    if (!row) return failed('document_not_found', `no document ${documentId} in the sandbox document store`);
    if (asked !== 'latest' && row.version !== Number(asked)) return failed('document_version_not_found', `document ${documentId} has no version ${asked} (its latest is ${row.latest})`);
    const fields = { version: String(row.version), length: Array.from(row.text).length, sha256: sha256(row.text) };
    return {
      status: 'succeeded',
      output: { documentId, ...fields, latestVersion: String(row.latest), title: row.title, contractId: row.contract_id, text: row.text },
      claim: { system: 'sandbox', entity: 'document_version', id: `${documentId}@${row.version}`, fields },
      reasons: [{ code: 'read_completed', message: `read version ${row.version} of document ${documentId} (${fields.length} characters)` }],
    };
  },
};

/** The tools of the seed workflows' systems of record (and the document store the verifier reads citations from). */
export const SANDBOX_SYSTEM_TOOLS: ToolDefinition[] = [lookupInvoice, approvePayment, lookupContract, draftRenewal, sendExternalMail, lookupMail, lookupTicket, updateTicket, readDocument];

// ---------------------------------------------------------------------------------------------
// Demo data

const at = (iso: string) => new Date(iso);
const invoice = (id: string, vendor: string, amount: number, reason: string, extra: Partial<SandboxInvoice> = {}): SandboxInvoice => ({
  id,
  vendor,
  amount: amount.toFixed(2),
  currency: 'EUR',
  status: 'open',
  reason,
  dropWrites: false,
  unavailableCalls: 0,
  updatedAt: at('2026-11-10T09:00:00Z'),
  ...extra,
});

/**
 * ERP invoices. inv-1001..1003 are the invoice-exception workflow's cases; inv-1004..1008 spare
 * open invoices for tests; inv-1009 drops writes and inv-1010 is unavailable (the test hooks).
 */
export const DEMO_INVOICES: SandboxInvoice[] = [
  invoice('inv-1001', 'Acme Supplies', 1200, 'price mismatch 2%'),
  invoice('inv-1002', 'Globex Logistics', 82000, 'duplicate PO suspected'),
  invoice('inv-1003', 'Initech', 7400, 'goods receipt missing'),
  invoice('inv-1004', 'Hooli Hardware', 450, 'quantity mismatch'),
  invoice('inv-1005', 'Stark Components', 3100, 'missing PO reference'),
  invoice('inv-1006', 'Wayne Freight', 5000, 'price mismatch 1%'),
  invoice('inv-1007', 'Soylent Foods', 12500, 'vendor bank details changed'),
  invoice('inv-1008', 'Cyberdyne Systems', 980, 'tax rate mismatch'),
  invoice('inv-1009', 'Tyrell Parts', 2300, 'price mismatch 3% [sandbox: drops writes]', { dropWrites: true }),
  invoice('inv-1010', 'Oscorp Chemicals', 640, 'price mismatch 1% [sandbox: unavailable]', { unavailableCalls: -1 }),
];

export const DEMO_CONTRACTS: SandboxContract[] = [
  { id: 'ctr-2001', customer: 'Umbrella Corp', customerEmailDomain: 'umbrella.example', endDate: '2027-01-31', status: 'active', renewalDraft: null, updatedAt: at('2026-11-05T09:00:00Z') },
  { id: 'ctr-2002', customer: 'Vandelay Industries', customerEmailDomain: 'vandelay.example', endDate: '2027-03-15', status: 'active', renewalDraft: null, updatedAt: at('2026-11-06T09:00:00Z') },
  { id: 'ctr-2003', customer: 'Massive Dynamic', customerEmailDomain: 'massive.example', endDate: '2026-12-31', status: 'active', renewalDraft: null, updatedAt: at('2026-11-07T09:00:00Z') },
];

export const DEMO_TICKETS: SandboxTicket[] = [
  { id: 'tkt-3001', subject: 'Cannot log in since update', body: 'Since the update this morning I get "invalid session" on every login.', priority: 'normal', status: 'open', assigneeGroup: null, updatedAt: at('2026-11-12T08:00:00Z') },
  { id: 'tkt-3002', subject: 'Invoice PDF shows wrong address', body: 'Our billing address on the last invoice PDF is the old one.', priority: 'low', status: 'open', assigneeGroup: null, updatedAt: at('2026-11-12T09:00:00Z') },
  { id: 'tkt-3003', subject: 'Production outage: API returns 500', body: 'All API calls have failed with HTTP 500 for ten minutes.', priority: 'normal', status: 'open', assigneeGroup: null, updatedAt: at('2026-11-12T10:00:00Z') },
];

const MSA_UMBRELLA_V1 = [
  'MASTER SERVICES AGREEMENT between Govmesh Demo Ltd ("Supplier") and Umbrella Corp ("Customer").',
  '1. Term. This agreement runs from 2025-02-01 to 2027-01-31.',
  '2. Renewal. The agreement renews for twelve months unless either party gives written notice of non-renewal at least 60 days before the end date.',
  '3. Fees. The annual fee is EUR 48,000, invoiced quarterly in advance and payable within 30 days of the invoice date.',
  "4. Termination. Either party may terminate this agreement for material breach with 30 days' written notice if the breach is not remedied within that period.",
  '5. Liability. Each party\'s total liability under this agreement is limited to the fees paid in the twelve months before the claim.',
].join('\n');

/** Version 2 of the Umbrella agreement: 90 days' notice of non-renewal, a higher fee. */
const MSA_UMBRELLA_V2 = MSA_UMBRELLA_V1.replace('at least 60 days before the end date', 'at least 90 days before the end date').replace('EUR 48,000', 'EUR 52,000');

const DPA_VANDELAY_V1 = [
  'DATA PROCESSING AGREEMENT between Govmesh Demo Ltd ("Processor") and Vandelay Industries ("Controller").',
  '1. Subject. The Processor processes customer contact data only on documented instructions from the Controller.',
  '2. Sub-processors. The Processor engages no sub-processor without the Controller\'s prior written consent.',
  '3. Breaches. The Processor notifies the Controller of a personal data breach without undue delay and at the latest within 48 hours.',
  '4. Deletion. At the end of the services the Processor deletes all personal data within 30 days, unless the law requires keeping it.',
].join('\n');

const document = (documentId: string, version: number, title: string, contractId: string | null, text: string, createdAt: string): SandboxDocumentVersion => ({ documentId, version, title, contractId, text, createdAt: at(createdAt) });

/**
 * The document store: doc-4001 (Umbrella Corp's master services agreement, versions 1 and 2: the
 * notice period and the fee changed) and doc-4002 (Vandelay Industries' data processing agreement).
 */
export const DEMO_DOCUMENTS: SandboxDocumentVersion[] = [
  document('doc-4001', 1, 'Master services agreement: Umbrella Corp', 'ctr-2001', MSA_UMBRELLA_V1, '2025-01-20T09:00:00Z'),
  document('doc-4001', 2, 'Master services agreement: Umbrella Corp', 'ctr-2001', MSA_UMBRELLA_V2, '2026-03-02T09:00:00Z'),
  document('doc-4002', 1, 'Data processing agreement: Vandelay Industries', 'ctr-2002', DPA_VANDELAY_V1, '2025-04-11T09:00:00Z'),
];

/** Seeds the systems of record (rows that exist already are left as they are). */
export async function seedSandboxSystems(sandbox: DataSource): Promise<void> {
  await sandbox.createQueryBuilder().insert().into(SandboxInvoice).values(DEMO_INVOICES).orIgnore().execute();
  await sandbox.createQueryBuilder().insert().into(SandboxContract).values(DEMO_CONTRACTS).orIgnore().execute();
  await sandbox.createQueryBuilder().insert().into(SandboxTicket).values(DEMO_TICKETS).orIgnore().execute();
  await sandbox.createQueryBuilder().insert().into(SandboxDocumentVersion).values(DEMO_DOCUMENTS).orIgnore().execute();
}

