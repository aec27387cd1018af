import type { Classification, ToolManifest, VerificationCheck } from '@govmesh/contracts';
import { queryRows } from '@govmesh/messaging';
import { SANDBOX_SYSTEM_TOOLS } from '../sandbox-tools';
import { LOOKUP_ACCOUNT } from '../sandbox-accounts';
import type { ToolDefinition } from '../tool-definition';

/** The principal the verifier reads systems of record as: tool grants to it are read tools only. */
export const VERIFIER_PRINCIPAL = 'govmesh-verifier';

/**
 * The version of every built-in manifest; raised when a built-in tool changes, or when a service
 * starts learning tools from the manifest's events (1.2.0: the model router), so that a start
 * re-registers them all and every consumer hears of them.
 */
export const BUILT_IN_VERSION = '1.2.0';

/**
 * The gateway's own ledger as a read tool: what an execution ran under. The verifier's grant
 * check reads it (through the gateway, under its own identity) instead of trusting the run.
 */
const executionLookup: ToolDefinition = {
  name: 'gateway.execution_lookup',
  connection: 'gateway-ledger',
  description: 'Read one execution of the tool gateway: run, step, tool, status and the grant it ran under',
  sideEffect: 'read',
  idempotent: true,
  inputSchema: { type: 'object', required: ['executionId'], additionalProperties: false, properties: { executionId: { type: 'string', pattern: '^[0-9a-f-]{36}$' } } },
  async execute(db, args) {
    const executionId = args['executionId'] as string;
    const [row] = (await queryRows(db, `SELECT id, run_id, step_id, tool, status, grant_id FROM "tool_gateway"."executions" WHERE id = $1`, [executionId])) as Array<{
      id: string;
      run_id: string;
      step_id: string;
      tool: string;
      status: string;
      grant_id: string | null;
    }>;
    if (!row) return { status: 'failed', reasons: [{ code: 'execution_not_found', message: `no execution ${executionId} in the gateway's ledger` }] };
    return {
      status: 'succeeded',
      output: { executionId: row.id, runId: row.run_id, stepId: row.step_id, tool: row.tool, status: row.status, grantId: row.grant_id ?? '' },
      reasons: [{ code: 'read_completed', message: `read execution ${executionId}` }],
    };
  },
};

/** The sandbox operations a manifest may name (`operation: { connector: 'sandbox', operation }`): the code behind the built-in tools. */
export const SANDBOX_OPERATIONS: ReadonlyMap<string, ToolDefinition> = new Map([LOOKUP_ACCOUNT, ...SANDBOX_SYSTEM_TOOLS, executionLookup].map((t) => [t.name, t]));

const readBack = (tool: string, args: Record<string, string>): VerificationCheck => ({ check: 'read_back', tool, arguments: args });

/** What the code does not say about each built-in tool: its data, resource and verification. */
const EXTRAS: Record<string, { classification: Classification; resource?: ToolManifest['resource']; verification?: VerificationCheck[]; maxTier?: ToolManifest['maxTier'] }> = {
  'sandbox.lookup_account': { classification: 'confidential', resource: { argument: 'accountId', kind: 'account' }, verification: [readBack('sandbox.lookup_account', { accountId: 'arguments.accountId' })] },
  'invoices.lookup': { classification: 'confidential', verification: [readBack('invoices.lookup', { invoiceId: 'arguments.invoiceId' })] },
  'invoices.approve_payment': {
    classification: 'confidential',
    verification: [
      readBack('invoices.lookup', { invoiceId: 'arguments.invoiceId' }),
      { check: 'state', tool: 'invoices.lookup', arguments: { invoiceId: 'arguments.invoiceId' }, expect: "record.status == 'approved' && record.paymentCount == 1", description: 'approved with exactly one payment' },
      { check: 'grant' },
    ],
  },
  'contracts.lookup': { classification: 'internal', verification: [readBack('contracts.lookup', { contractId: 'arguments.contractId' })] },
  'contracts.draft_renewal': { classification: 'internal', verification: [readBack('contracts.lookup', { contractId: 'arguments.contractId' })] },
  'mail.send_external': { classification: 'internal', verification: [readBack('mail.lookup', { mailId: 'output.mailId' })] },
  'mail.lookup': { classification: 'internal', verification: [readBack('mail.lookup', { mailId: 'arguments.mailId' })] },
  'tickets.lookup': { classification: 'internal', verification: [readBack('tickets.lookup', { ticketId: 'arguments.ticketId' })] },
  'tickets.update': { classification: 'internal', verification: [readBack('tickets.lookup', { ticketId: 'arguments.ticketId' })] },
  'gateway.execution_lookup': { classification: 'internal' },
  // The document version read is read again (the version the answer named, not `latest`).
  'documents.read': { classification: 'internal', verification: [readBack('documents.read', { documentId: 'arguments.documentId', version: 'output.version' })] },
};

function manifestOf(tool: ToolDefinition): ToolManifest {
  const extra = EXTRAS[tool.name];
  if (!extra) throw new Error(`built-in tool ${tool.name} has no manifest entry`);
  return {
    name: tool.name,
    version: BUILT_IN_VERSION,
    description: tool.description,
    inputSchema: tool.inputSchema,
    ...(tool.outputSchema ? { outputSchema: tool.outputSchema } : {}),
    sideEffect: tool.sideEffect,
    classification: extra.classification,
    ...(extra.maxTier ? { maxTier: extra.maxTier } : {}),
    idempotent: tool.idempotent,
    operation: { connector: 'sandbox', operation: tool.name },
    ...(tool.rateLimit ? { rateLimit: tool.rateLimit } : {}),
    ...(extra.resource ? { resource: extra.resource } : {}),
    ...(extra.verification ? { verification: extra.verification } : {}),
  };
}

/** The manifests every installation registers at start: the sandbox systems' tools and the gateway's ledger. */
export const BUILT_IN_MANIFESTS: readonly ToolManifest[] = [...SANDBOX_OPERATIONS.values()].map(manifestOf);

/** The connection (circuit breaker) of a sandbox operation. */
export const sandboxConnectionOf = (operation: string): string | undefined => SANDBOX_OPERATIONS.get(operation)?.connection;

/**
 * Which tools each seeded agent may use (with the verifier's read tools): granted at start when
 * the demo data is seeded, as an operator would through `POST /v1/tool-grants`.
 */
export const SEED_TOOL_GRANTS: ReadonlyArray<{ agentId: string; tool: string }> = [
  { agentId: 'support-assistant', tool: 'sandbox.lookup_account' },
  { agentId: 'invoice-exceptions-agent', tool: 'invoices.lookup' },
  { agentId: 'invoice-exceptions-agent', tool: 'invoices.approve_payment' },
  { agentId: 'contract-renewal-agent', tool: 'contracts.lookup' },
  { agentId: 'contract-renewal-agent', tool: 'contracts.draft_renewal' },
  { agentId: 'contract-renewal-agent', tool: 'mail.send_external' },
  { agentId: 'support-triage-agent', tool: 'tickets.lookup' },
  { agentId: 'support-triage-agent', tool: 'tickets.update' },
  ...BUILT_IN_MANIFESTS.filter((m) => m.sideEffect === 'read').map((m) => ({ agentId: VERIFIER_PRINCIPAL, tool: m.name })),
];
