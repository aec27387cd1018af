import type { AgentIdentity, ToolProfile } from './model';

/**
 * The policy set a fresh installation starts with. The autonomy tiers (seeds/002) are policy over
 * `context.effectiveTier`, the least permissive of the agent's, the workflow's, the tool's and the
 * data's tier:
 *
 * | effective tier | read  | write                         | destructive / external_send                         |
 * |----------------|-------|-------------------------------|-----------------------------------------------------|
 * | assist         | deny  | deny                          | deny                                                |
 * | prepare        | allow | approval                      | only a permit annotated for the class, and approval |
 * | execute_low    | allow | allow (the policy gate)       | only a permit annotated for the class               |
 * | execute_high   | allow | approval, outcome verified    | only a permit annotated for the class, and approval, outcome verified |
 *
 * Assist agents only suggest: no policy lets them invoke any tool, not even a read (denied by
 * default). The tier permits cover every side effect other than read, so a destructive or
 * external-send tool matches them, but the engine lets such a tool through only on a permit
 * carrying `@allowSideEffect("<its class>")`: the tier rules alone never open one, and the
 * checkpoint of the tier still applies. On top, a destructive tool is used only at execute_high,
 * or at the `maxTier` its manifest names (`requiredTier`): below it the engine refuses the call
 * (`tier_too_low_for_side_effect`) whatever the policies say.
 *
 * On top, for every action: inactive agents are forbidden, and so is data classified above the
 * agent's clearance. And the three workflows of the seed agents:
 * - invoice exceptions: `invoices.approve_payment` runs by itself up to 5000 (the tier rules),
 *   waits for finance-ops above 5000, and is refused without a positive amount;
 * - contract renewal: `contracts.draft_renewal` is an ordinary write; `mail.send_external` is
 *   allowed only by its own annotated permit, and always waits for legal;
 * - support triage: `tickets.lookup` (read) and `tickets.update` (write) under the tier rules.
 */
export const SEED_POLICIES: Record<string, string> = {
  'active-agents-submit-intents': `
@description("Registered, active agents may submit intents")
permit(principal is Agent, action == Action::"SubmitIntent", resource is Intent)
when { principal.status == "active" };`,

  'inactive-agents-forbidden': `
@description("Suspended or retired agents may do nothing")
forbid(principal is Agent, action, resource)
when { principal.status != "active" };`,

  'classification-above-clearance': `
@description("No agent may touch data classified above its clearance")
@reason("classification_above_clearance")
forbid(principal is Agent, action == Action::"InvokeTool", resource is Tool)
when {
  resource.classificationRank > principal.clearanceRank ||
  (context has target && context.target.classificationRank > principal.clearanceRank)
};`,

  'read-tools-above-assist': `
@description("Agents above the Assist tier may use read-only tools")
permit(principal is Agent, action == Action::"InvokeTool", resource is Tool)
when { resource.sideEffect == "read" && context.effectiveTierRank >= 1 };`,

  'prepare-tier-changes-need-approval': `
@description("Prepare-tier agents assemble changes; a human approves each one before it runs")
@effect("require_approval")
permit(principal is Agent, action == Action::"InvokeTool", resource is Tool)
when { context.effectiveTier == "prepare" && resource.sideEffect != "read" };`,

  'execute-low-acts-within-policy': `
@description("Execute-low agents may change systems of record inside the policy gate")
permit(principal is Agent, action == Action::"InvokeTool", resource is Tool)
when { context.effectiveTier == "execute_low" && resource.sideEffect != "read" };`,

  'execute-high-changes-need-approval': `
@description("Execute-high actions are costly: a human approves each one first and its outcome is verified")
@effect("require_approval")
permit(principal is Agent, action == Action::"InvokeTool", resource is Tool)
when { context.effectiveTier == "execute_high" && resource.sideEffect != "read" };`,

  'invoice-payment-needs-positive-amount': `
@description("An invoice payment must state a positive amount")
@reason("invoice_amount_required")
forbid(principal, action == Action::"InvokeTool", resource == Tool::"invoices.approve_payment")
unless { context has amount && context.amount > 0 };`,

  'invoice-payment-above-5000-needs-finance-ops': `
@description("Invoice payments above 5000 wait for finance-ops approval (finance-leads may decide too)")
@effect("require_approval")
@approvers("finance-ops,finance-leads")
permit(principal is Agent, action == Action::"InvokeTool", resource == Tool::"invoices.approve_payment")
when { context has amount && context.amount > 5000 && context.effectiveTierRank >= 1 };`,

  'contract-renewal-external-mail-needs-legal': `
@description("Contract renewal mail leaves the company only after legal approves it")
@effect("require_approval")
@approvers("legal")
@allowSideEffect("external_send")
permit(principal is Agent, action == Action::"InvokeTool", resource == Tool::"mail.send_external")
when { context.effectiveTierRank >= 1 && context has recipientDomain };`,
};

/** @deprecated the seed set; kept for callers written before it had a name. */
export const DEFAULT_POLICIES = SEED_POLICIES;

/**
 * Profiles of the tools the seed policies are written for (the sandbox demo's and the three seed
 * workflows'), for the engine's tests and the policy bench. The services learn tools only from
 * the tool manifest (`govmesh.tool.registered.v1`), never from this list.
 */
export const SEED_TOOL_PROFILES: ToolProfile[] = [
  { name: 'sandbox.lookup_account', sideEffect: 'read', classification: 'confidential' },
  { name: 'invoices.lookup', sideEffect: 'read', classification: 'confidential' },
  { name: 'invoices.approve_payment', sideEffect: 'write', classification: 'confidential' },
  { name: 'contracts.lookup', sideEffect: 'read', classification: 'internal' },
  { name: 'contracts.draft_renewal', sideEffect: 'write', classification: 'internal' },
  { name: 'mail.send_external', sideEffect: 'external_send', classification: 'internal' },
  { name: 'tickets.lookup', sideEffect: 'read', classification: 'internal' },
  { name: 'tickets.update', sideEffect: 'write', classification: 'internal' },
];

export interface SeedAgent extends AgentIdentity {
  purpose: string;
}

/** Agents a fresh installation registers: the demo's three and one per seed workflow. */
export const SEED_AGENTS: SeedAgent[] = [
  {
    id: 'support-assistant',
    version: '1.0.0',
    owner: 'support-operations',
    tier: 'execute_low',
    status: 'active',
    clearance: 'confidential',
    purpose: 'Answers account questions for the support desk',
  },
  { id: 'research-assistant', version: '0.3.0', owner: 'research', tier: 'assist', status: 'active', clearance: 'confidential', purpose: 'Drafts only: may read context but not use tools' },
  { id: 'legacy-batch-bot', version: '2.1.0', owner: 'finance-operations', tier: 'execute_low', status: 'retired', clearance: 'confidential', purpose: 'Retired: every request is refused' },
  {
    id: 'invoice-exceptions-agent',
    version: '1.0.0',
    owner: 'finance-ops',
    tier: 'execute_low',
    status: 'active',
    clearance: 'confidential',
    purpose: 'Resolves invoice exceptions; pays up to 5000 by itself, larger payments after finance-ops approves',
  },
  {
    id: 'contract-renewal-agent',
    version: '1.0.0',
    owner: 'legal',
    tier: 'execute_low',
    status: 'active',
    clearance: 'internal',
    purpose: 'Drafts contract renewals; mails them out only after legal approves',
  },
  {
    id: 'support-triage-agent',
    version: '1.0.0',
    owner: 'support-operations',
    tier: 'execute_low',
    status: 'active',
    clearance: 'internal',
    purpose: 'Looks up and updates support tickets',
  },
];
