import { randomUUID } from 'node:crypto';
import { EventTypes, type IntentDecidedV1, type Reason } from '@govmesh/contracts';
import type { ServiceHarness } from '@govmesh/testing';
import { ORCHESTRATOR_DATABASE } from '../database';

/**
 * Events the orchestrator consumes, as the other services emit them, for the orchestrator's
 * service tests: an admitted intent, the context and model replies of the seed workflows, a grant
 * in the right shape, and an invoice run held by policy for approval.
 */

export const PERMITTED: Reason[] = [{ code: 'permitted', message: 'permitted' }];
export const INVOICE_82000 = { invoiceId: 'inv-1002', amount: 82000, currency: 'EUR' };

/** Policy's decision on an intent, as the orchestrator first sees a run from Kafka. */
export function intentDecided(
  h: ServiceHarness,
  runId: string,
  agentId: string,
  intent: { task: string; input?: Record<string, unknown>; workflow?: string },
  decision: Pick<IntentDecidedV1, 'effect' | 'reasons'> = { effect: 'allow', reasons: PERMITTED },
) {
  return h.event(EventTypes.IntentDecided, { runId, agentId, agentVersion: '1.0.0', ...decision, policyVersion: 'p1', intent: { intentId: runId, agentId, ...intent } });
}

/** The context reply to a run's first step. */
export const contextRetrieved = (h: ServiceHarness, runId: string, stepId = 'retrieve#1') => h.event(EventTypes.ContextRetrieved, { runId, stepId, citations: [], withheld: 0 });

/** The default workflow's plan step proposing the account lookup. */
export const lookupProposed = (h: ServiceHarness, runId: string) =>
  h.event(EventTypes.ModelCompleted, {
    runId,
    stepId: 'plan#2',
    model: 'builtin-small',
    provider: 'builtin',
    confidence: 0.9,
    proposal: { kind: 'tool_call', tool: 'sandbox.lookup_account', arguments: { accountId: 'acc-001' }, rationale: 'look it up' },
    usage: { inputTokens: 10, outputTokens: 5 },
  });

/** Policy allowing the default workflow's lookup (act#3), with a grant unless told otherwise. */
export const lookupAllowed = (h: ServiceHarness, runId: string, agentId = 'support-assistant', withGrant = true) =>
  h.event(EventTypes.ActionDecided, { runId, stepId: 'act#3', effect: 'allow', reasons: PERMITTED, policyVersion: 'p1', ...(withGrant ? { grant: grantFor(runId, 'act#3', agentId) } : {}) });

/** The gateway's answer to the lookup, with the claim the verifier checks unless told otherwise. */
export const lookupExecuted = (h: ServiceHarness, runId: string, claim = true) =>
  h.event(EventTypes.ToolExecuted, {
    runId,
    stepId: 'act#3',
    tool: 'sandbox.lookup_account',
    executionId: randomUUID(),
    status: 'succeeded',
    output: { accountId: 'acc-001', status: 'active' },
    ...(claim ? { claim: { system: 'sandbox', entity: 'account', id: 'acc-001', fields: { status: 'active' } } } : {}),
    reasons: [{ code: 'read_completed', message: 'read account acc-001' }],
  });

/** A grant in the shape policy signs (the orchestrator only forwards it). */
export const grantFor = (runId: string, stepId: string, agentId: string) => ({
  grantId: 'g-1',
  digest: 'a'.repeat(64),
  runId,
  stepId,
  agentId,
  agentVersion: '1.0.0',
  policyVersion: 'p1',
  issuedAt: '2026-11-21T00:00:00.000Z',
  expiresAt: '2026-12-01T00:00:00.000Z',
  keyId: '0123456789abcdef',
  signature: 's'.repeat(86),
});

/** Policy holding an invoice payment for finance-ops or finance-leads. */
export const approvalRequired = (h: ServiceHarness, runId: string, stepId: string) =>
  h.event(EventTypes.ActionDecided, {
    runId,
    stepId,
    effect: 'require_approval',
    reasons: [{ code: 'above_threshold', message: 'payments above 5000 wait for finance-ops' }],
    policyVersion: 'p1',
    approvers: ['finance-ops', 'finance-leads'],
  });

/** A run of the invoice workflow for 82,000 held by policy for approval at its pay step (pay#4): its id and its review item's. */
export async function heldInvoice(h: ServiceHarness, agentId = 'invoice-exceptions-agent'): Promise<{ runId: string; approvalId: string }> {
  const runId = `r-${randomUUID()}`;
  await h.send(intentDecided(h, runId, agentId, { task: 'Resolve the exception on inv-1002', input: INVOICE_82000, workflow: 'invoice-exception' }));
  await h.send(contextRetrieved(h, runId));
  await h.send(
    h.event(EventTypes.ModelCompleted, {
      runId,
      stepId: 'assess#2',
      model: 'builtin-large',
      provider: 'builtin',
      confidence: 0.9,
      proposal: { kind: 'no_action', rationale: 'structured answer' },
      output: { recommendation: 'pay', amount: 82000, currency: 'EUR', rationale: 'duplicate PO cleared', confidence: 0.9 },
      usage: { inputTokens: 1, outputTokens: 1 },
    }),
  );
  await h.send(approvalRequired(h, runId, 'pay#4'));
  const [row] = await h.query<{ id: string }>(`SELECT id FROM "${ORCHESTRATOR_DATABASE.schema}"."review_items" WHERE run_id = $1 AND status = 'pending'`, [runId]);
  return { runId, approvalId: row.id };
}
