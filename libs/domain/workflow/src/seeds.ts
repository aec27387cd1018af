import type { WorkflowDefinition } from './definition';

/**
 * The workflows a fresh installation registers at start. Each is ordinary data: an operator can
 * publish a new version of any of them through the API.
 */

/** The workflow of an intent that names none: retrieve, let the model propose one tool call, decide, execute, verify. */
export const DEFAULT_WORKFLOW: WorkflowDefinition = {
  id: 'retrieve-plan-act-verify',
  version: 1,
  description: 'Retrieve context, let the routed model propose one tool call, have policy decide it, execute it through the gateway and verify it against the system of record.',
  deadlineSeconds: 300,
  escalation: { levels: [{ name: 'operations', groups: ['operations'], slaSeconds: 3600 }], onExpiry: 'fail' },
  steps: [
    { id: 'retrieve', kind: 'context' },
    { id: 'plan', kind: 'model' },
    { id: 'act', kind: 'action', from: 'plan' },
    { id: 'verify', kind: 'verify', of: 'act' },
  ],
};

const FINANCE_LEVELS = [
  { name: 'finance-ops', groups: ['finance-ops'], slaSeconds: 4 * 3600 },
  { name: 'finance-leads', groups: ['finance-leads'], slaSeconds: 8 * 3600 },
];

/**
 * Invoice exception: the model assesses the exception against the retrieved payment policy; a
 * payment up to 5000 runs with no human (policy allows it), above 5000 policy holds it for
 * finance-ops, and above 50,000 the approval starts with finance-leads. An unanswered approval
 * moves up after its SLA and, after the last level, the run fails closed.
 */
export const INVOICE_EXCEPTION_WORKFLOW: WorkflowDefinition = {
  id: 'invoice-exception',
  version: 1,
  description: 'Resolve an invoice exception: assess it, pay it (finance-ops approves above 5000), verify the payment in the ERP.',
  tier: 'execute_low',
  agents: ['invoice-exceptions-agent'],
  deadlineSeconds: 3 * 86_400,
  inputSchema: {
    type: 'object',
    required: ['invoiceId', 'amount', 'currency'],
    properties: {
      invoiceId: { type: 'string', pattern: '^inv-[0-9]{3,12}$' },
      amount: { type: 'number', exclusiveMinimum: 0 },
      currency: { type: 'string', pattern: '^[A-Z]{3}$' },
      vendor: { type: 'string', maxLength: 200 },
      reason: { type: 'string', maxLength: 2000 },
    },
  },
  escalation: { levels: FINANCE_LEVELS, expiresAfterSeconds: 86_400, onExpiry: 'escalate' },
  steps: [
    { id: 'retrieve', kind: 'context', query: '"invoice exception payment policy " + input.invoiceId' },
    {
      id: 'assess',
      kind: 'model',
      instructions: 'Assess the invoice exception against the payment policy. Recommend pay or hold, with the amount and currency to pay.',
      outputSchema: {
        type: 'object',
        required: ['recommendation', 'amount', 'currency'],
        properties: {
          recommendation: { enum: ['pay', 'hold'] },
          amount: { type: 'number', exclusiveMinimum: 0 },
          currency: { type: 'string', pattern: '^[A-Z]{3}$' },
          rationale: { type: 'string' },
          confidence: { type: 'number', minimum: 0, maximum: 1 },
        },
      },
      minConfidence: 0.6,
      timeoutSeconds: 60,
      retry: { maxAttempts: 2, backoffSeconds: 1 },
    },
    { id: 'route', kind: 'branch', cases: [{ when: 'steps.assess.recommendation == "hold"', next: 'end' }], default: 'pay' },
    {
      id: 'pay',
      kind: 'action',
      tool: 'invoices.approve_payment',
      arguments: { invoiceId: 'input.invoiceId', amount: 'steps.assess.amount', currency: 'steps.assess.currency' },
      approval: { levels: FINANCE_LEVELS, routes: [{ when: 'action.arguments.amount > 50000', level: 2 }], expiresAfterSeconds: 2 * 86_400, onExpiry: 'fail' },
      timeoutSeconds: 60,
      retry: { maxAttempts: 3, backoffSeconds: 1 },
    },
    { id: 'verify', kind: 'verify', of: 'pay' },
  ],
};

/**
 * Contract renewal: research the contract, summarise the renewal, store the draft, an account
 * manager reviews (and may edit) the mail at a checkpoint, then the external send — which policy
 * holds for legal — and the verifier confirms the draft and the mail in the systems of record.
 */
export const CONTRACT_RENEWAL_WORKFLOW: WorkflowDefinition = {
  id: 'contract-renewal',
  version: 1,
  description: 'Research, summarise and draft a contract renewal; an account manager reviews the mail; legal approves the external send; verify.',
  tier: 'execute_low',
  agents: ['contract-renewal-agent'],
  deadlineSeconds: 7 * 86_400,
  inputSchema: {
    type: 'object',
    required: ['contractId', 'customerEmail'],
    properties: {
      contractId: { type: 'string', pattern: '^ctr-[0-9]{3,12}$' },
      customerEmail: { type: 'string', format: 'email', maxLength: 254 },
    },
  },
  escalation: { levels: [{ name: 'account-managers', groups: ['account-managers'], slaSeconds: 86_400 }, { name: 'legal', groups: ['legal'], slaSeconds: 86_400 }], onExpiry: 'escalate', expiresAfterSeconds: 2 * 86_400 },
  steps: [
    { id: 'research', kind: 'context', query: '"contract renewal terms " + input.contractId' },
    {
      id: 'summarize',
      kind: 'model',
      instructions: 'Summarise the contract and the renewal terms, then write the renewal mail to the customer.',
      outputSchema: {
        type: 'object',
        required: ['summary', 'subject', 'body'],
        properties: { summary: { type: 'string', maxLength: 4000 }, subject: { type: 'string', maxLength: 200 }, body: { type: 'string', maxLength: 8000 }, confidence: { type: 'number' } },
      },
      minConfidence: 0.5,
    },
    { id: 'draft', kind: 'action', tool: 'contracts.draft_renewal', arguments: { contractId: 'input.contractId', draft: 'steps.summarize.body' } },
    { id: 'verify_draft', kind: 'verify', of: 'draft' },
    {
      id: 'review_mail',
      kind: 'checkpoint',
      instructions: 'Review the renewal mail before it leaves the company; edit the subject or body if needed.',
      review: { levels: [{ name: 'account-managers', groups: ['account-managers'], slaSeconds: 86_400 }], expiresAfterSeconds: 3 * 86_400, onExpiry: 'fail' },
      editSchema: { type: 'object', required: ['subject', 'body'], additionalProperties: false, properties: { subject: { type: 'string', minLength: 1, maxLength: 200 }, body: { type: 'string', minLength: 1, maxLength: 8000 } } },
    },
    {
      id: 'send',
      kind: 'action',
      tool: 'mail.send_external',
      arguments: {
        to: 'input.customerEmail',
        subject: 'has(steps.review_mail.subject) ? steps.review_mail.subject : steps.summarize.subject',
        body: 'has(steps.review_mail.body) ? steps.review_mail.body : steps.summarize.body',
        contractId: 'input.contractId',
      },
      approval: { levels: [{ name: 'legal', groups: ['legal'], slaSeconds: 86_400 }], expiresAfterSeconds: 3 * 86_400, onExpiry: 'fail' },
    },
    { id: 'verify_send', kind: 'verify', of: 'send' },
  ],
};

/**
 * Support triage: read the ticket, classify it, let a support lead confirm anything the model
 * calls urgent, update the ticket, verify the update.
 */
export const SUPPORT_TRIAGE_WORKFLOW: WorkflowDefinition = {
  id: 'support-triage',
  version: 1,
  description: 'Read a ticket, classify priority and queue, confirm urgent ones with a support lead, update and verify the ticket.',
  tier: 'execute_low',
  agents: ['support-triage-agent'],
  deadlineSeconds: 86_400,
  inputSchema: { type: 'object', required: ['ticketId'], properties: { ticketId: { type: 'string', pattern: '^tkt-[0-9]{3,12}$' } } },
  escalation: { levels: [{ name: 'support-leads', groups: ['support-leads'], slaSeconds: 3600 }], expiresAfterSeconds: 4 * 3600, onExpiry: 'fail' },
  steps: [
    { id: 'lookup', kind: 'action', tool: 'tickets.lookup', arguments: { ticketId: 'input.ticketId' } },
    { id: 'verify_lookup', kind: 'verify', of: 'lookup' },
    {
      id: 'classify',
      kind: 'model',
      instructions: 'Classify the ticket: priority (low, normal, high, urgent) and the queue (assignee group) that should handle it.',
      outputSchema: {
        type: 'object',
        required: ['priority', 'assigneeGroup'],
        properties: { priority: { enum: ['normal', 'low', 'high', 'urgent'] }, assigneeGroup: { type: 'string', minLength: 1, maxLength: 128 }, confidence: { type: 'number' } },
      },
      minConfidence: 0.7,
    },
    { id: 'route', kind: 'branch', cases: [{ when: 'steps.classify.priority == "urgent"', next: 'confirm' }], default: 'update' },
    {
      id: 'confirm',
      kind: 'checkpoint',
      instructions: 'The model calls this ticket urgent: confirm before it pages the on-call queue.',
      review: { levels: [{ name: 'support-leads', groups: ['support-leads'], slaSeconds: 1800 }], expiresAfterSeconds: 4 * 3600, onExpiry: 'fail' },
      next: 'update',
    },
    {
      id: 'update',
      kind: 'action',
      tool: 'tickets.update',
      arguments: { ticketId: 'input.ticketId', priority: 'steps.classify.priority', assigneeGroup: 'steps.classify.assigneeGroup', status: '"triaged"' },
    },
    { id: 'verify_update', kind: 'verify', of: 'update' },
  ],
};

export const SEED_WORKFLOWS: readonly WorkflowDefinition[] = [DEFAULT_WORKFLOW, INVOICE_EXCEPTION_WORKFLOW, CONTRACT_RENEWAL_WORKFLOW, SUPPORT_TRIAGE_WORKFLOW];
