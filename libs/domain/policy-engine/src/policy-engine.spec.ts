import {
  CLASSIFICATIONS,
  DEFAULT_POLICIES,
  GOVMESH_CEDAR_SCHEMA,
  POLICY_SET_LIMITS,
  PolicyError,
  SEED_AGENTS,
  SEED_POLICIES,
  SEED_TOOL_PROFILES,
  decideAction,
  decideIntent,
  effectiveTier,
  loadPolicyBundle,
  reevaluate,
  requiredTier,
  validatePolicySet,
  type ActionRequest,
  type AgentIdentity,
  type AutonomyTier,
  type Classification,
  type PolicyBundle,
  type PolicyDecision,
  type PolicyEffect,
  type ResourceProfile,
  type SideEffect,
  type ToolProfile,
} from './index';
import { cedar } from './cedar';

const seed = loadPolicyBundle();

function agentAt(tier: AutonomyTier, overrides: Partial<AgentIdentity> = {}): AgentIdentity {
  return { id: `agent-${tier}`, version: '1.0.0', owner: 'support-team', tier, status: 'active', clearance: 'restricted', ...overrides };
}

function toolFor(sideEffect: SideEffect, overrides: Partial<ToolProfile> = {}): ToolProfile {
  return { name: `test.${sideEffect}`, sideEffect, classification: 'public', ...overrides };
}

function invoke(bundle: PolicyBundle, agent: AgentIdentity | undefined, tool: ToolProfile | undefined, extras: Partial<ActionRequest> = {}): PolicyDecision {
  return decideAction(bundle, { agentId: agent?.id ?? 'ghost-agent', agent, toolName: tool?.name ?? 'shell.exec', tool, arguments: {}, runId: 'run-1', ...extras });
}

const seedAgent = (id: string) => SEED_AGENTS.find((a) => a.id === id)!;
const seedTool = (name: string) => SEED_TOOL_PROFILES.find((t) => t.name === name)!;
const intent = { intentId: 'run-1', task: 'Check the balance of acc-001' };

function pay(amount: unknown, agent: AgentIdentity = seedAgent('invoice-exceptions-agent'), bundle = seed): PolicyDecision {
  const args = amount === undefined ? { invoiceId: 'INV-7' } : { invoiceId: 'INV-7', amount, currency: 'eur' };
  return invoice(bundle, agent, args);
}

function invoice(bundle: PolicyBundle, agent: AgentIdentity, args: Record<string, unknown>): PolicyDecision {
  return decideAction(bundle, { agentId: agent.id, agent, toolName: 'invoices.approve_payment', tool: seedTool('invoices.approve_payment'), arguments: args, runId: 'run-7' });
}

/** The decision without its recorded request, for comparing outcomes. */
function outcome(d: PolicyDecision): Omit<PolicyDecision, 'request'> {
  const { request: _request, ...rest } = d;
  return rest;
}

describe('the seed policy set', () => {
  it('loads with its checkpoints, approvers, side-effect permits and reason codes', () => {
    expect(seed.effects).toEqual({
      'prepare-tier-changes-need-approval': 'require_approval',
      'execute-high-changes-need-approval': 'require_approval',
      'invoice-payment-above-5000-needs-finance-ops': 'require_approval',
      'contract-renewal-external-mail-needs-legal': 'require_approval',
    });
    expect(seed.approvers).toEqual({ 'invoice-payment-above-5000-needs-finance-ops': ['finance-leads', 'finance-ops'], 'contract-renewal-external-mail-needs-legal': ['legal'] });
    expect(seed.sideEffectPermits).toEqual({ 'contract-renewal-external-mail-needs-legal': 'external_send' });
    expect(seed.reasonCodes).toEqual({ 'classification-above-clearance': 'classification_above_clearance', 'invoice-payment-needs-positive-amount': 'invoice_amount_required' });
    expect(seed.descriptions['inactive-agents-forbidden']).toBe('Suspended or retired agents may do nothing');
    expect(Object.keys(seed.policies).sort()).toEqual(Object.keys(SEED_POLICIES).sort());
  });

  it('validates cleanly against the schema, and DEFAULT_POLICIES still names it', () => {
    expect(validatePolicySet(SEED_POLICIES)).toEqual({ ok: true });
    expect(DEFAULT_POLICIES).toBe(SEED_POLICIES);
  });

  it('lists the seed workflow tools with their side effects and classifications', () => {
    expect(SEED_TOOL_PROFILES.map((t) => [t.name, t.sideEffect, t.classification, t.maxTier])).toEqual([
      ['sandbox.lookup_account', 'read', 'confidential', undefined],
      ['invoices.lookup', 'read', 'confidential', undefined],
      ['invoices.approve_payment', 'write', 'confidential', undefined],
      ['contracts.lookup', 'read', 'internal', undefined],
      ['contracts.draft_renewal', 'write', 'internal', undefined],
      ['mail.send_external', 'external_send', 'internal', undefined],
      ['tickets.lookup', 'read', 'internal', undefined],
      ['tickets.update', 'write', 'internal', undefined],
    ]);
  });

  // The demo's agents: what the README's summary shows, and one scenario per seed workflow.
  it.each([
    ['support-assistant', 'sandbox.lookup_account', {}, 'allow', 'permitted_by_policy'],
    ['research-assistant', 'sandbox.lookup_account', {}, 'deny', 'no_permit'],
    ['legacy-batch-bot', 'sandbox.lookup_account', {}, 'deny', 'forbidden_by_policy'],
    ['invoice-exceptions-agent', 'invoices.approve_payment', { amount: 1200 }, 'allow', 'permitted_by_policy'],
    ['invoice-exceptions-agent', 'invoices.approve_payment', { amount: 82000 }, 'require_approval', 'require_approval_by_policy'],
    ['contract-renewal-agent', 'contracts.draft_renewal', { contractId: 'C-9' }, 'allow', 'permitted_by_policy'],
    ['contract-renewal-agent', 'mail.send_external', { to: 'buyer@customer.example' }, 'require_approval', 'require_approval_by_policy'],
    ['contract-renewal-agent', 'sandbox.lookup_account', {}, 'deny', 'classification_above_clearance'],
    ['support-triage-agent', 'tickets.lookup', { ticketId: 'T-1' }, 'allow', 'permitted_by_policy'],
    ['support-triage-agent', 'tickets.update', { ticketId: 'T-1' }, 'allow', 'permitted_by_policy'],
  ] as const)('%s using %s with %j: %s (%s)', (agentId, toolName, args, effect, code) => {
    const decision = decideAction(seed, { agentId, agent: seedAgent(agentId), toolName, tool: seedTool(toolName), arguments: args, runId: 'run-1' });
    expect(decision.effect).toBe(effect);
    expect(decision.reasons[0].code).toBe(code);
  });

  it('keeps the demo reasons the README quotes', () => {
    const research = decideAction(seed, { agentId: 'research-assistant', agent: seedAgent('research-assistant'), toolName: 'sandbox.lookup_account', tool: seedTool('sandbox.lookup_account'), arguments: {}, runId: 'r' });
    expect(research.reasons).toEqual([{ code: 'no_permit', message: 'no policy permits research-assistant (tier assist) to InvokeTool Tool::"sandbox.lookup_account"; denied by default' }]);
    const legacy = decideAction(seed, { agentId: 'legacy-batch-bot', agent: seedAgent('legacy-batch-bot'), toolName: 'sandbox.lookup_account', tool: seedTool('sandbox.lookup_account'), arguments: {}, runId: 'r' });
    expect(legacy.reasons).toEqual([{ code: 'forbidden_by_policy', message: 'forbidden by policy "inactive-agents-forbidden": Suspended or retired agents may do nothing' }]);
  });
});

describe('policy set versions', () => {
  it('are the first 16 hex digits of the digest of the sorted policies, stable across releases', () => {
    expect(loadPolicyBundle({ 'all-intents': 'permit(principal, action == Action::"SubmitIntent", resource);' }).version).toBe('3ba317a4d114282d');
  });

  it('do not depend on the order the policies are listed in', () => {
    expect(loadPolicyBundle(Object.fromEntries(Object.entries(SEED_POLICIES).reverse())).version).toBe(seed.version);
  });

  const { 'inactive-agents-forbidden': inactive, ...withoutInactive } = SEED_POLICIES;
  it.each([
    ['a policy text changes', { ...SEED_POLICIES, 'read-tools-above-assist': SEED_POLICIES['read-tools-above-assist'].replace('>= 1', '>= 2') }],
    ['a policy is removed', withoutInactive],
    ['a policy is renamed', { ...withoutInactive, 'no-inactive-agents': inactive }],
    ['a policy is added', { ...SEED_POLICIES, extra: 'permit(principal, action, resource) when { false };' }],
  ])('change when %s, and decisions carry the new version', (_change, policies) => {
    const changed = loadPolicyBundle(policies);
    expect(changed.version).toMatch(/^[0-9a-f]{16}$/);
    expect(changed.version).not.toBe(seed.version);
    expect(decideIntent(changed, 'a', agentAt('prepare'), intent).policyVersion).toBe(changed.version);
  });

  it('belong to a bundle nobody can change after loading', () => {
    expect(Object.isFrozen(seed) && Object.isFrozen(seed.policies) && Object.isFrozen(seed.effects)).toBe(true);
    expect(() => {
      (seed.effects as Record<string, string>)['read-tools-above-assist'] = 'escalate';
    }).toThrow(TypeError);
  });
});

describe('validatePolicySet', () => {
  const invoke = 'action == Action::"InvokeTool"';
  it.each([
    ['an unknown attribute', `permit(principal is Agent, ${invoke}, resource is Tool) when { principal.department == "x" };`, 'attribute `department` on entity type `Agent` not found'],
    ['a type error', `permit(principal, ${invoke}, resource) when { context.effectiveTierRank == "high" };`, 'the types Long and String are not compatible'],
    ['an unknown entity type', 'permit(principal is Robot, action, resource);', 'unrecognized entity type `Robot`'],
    ['an unknown action', 'permit(principal, action == Action::"DeleteEverything", resource);', 'unrecognized action `Action::"DeleteEverything"`'],
    ['an optional attribute read without `has`', `permit(principal, ${invoke}, resource) when { context.amount <= 5000 };`, 'unable to guarantee safety of access to optional attribute `amount`'],
    ['malformed text', 'permit(principal, action, resource', 'unexpected end of input'],
    ['two policies under one id', 'permit(principal, action, resource); forbid(principal, action, resource);', 'unexpected token `forbid`'],
    ['a template', 'permit(principal == ?principal, action, resource);', 'expected a static policy, got a template'],
  ])('reports %s with Cedar’s own message, naming the policy', (_what, text, message) => {
    const result = validatePolicySet({ ...SEED_POLICIES, 'the-policy': text });
    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(result.diagnostics.length).toBeGreaterThan(0);
    expect(result.diagnostics.every((d) => d.policyId === 'the-policy')).toBe(true);
    expect(result.diagnostics.map((d) => `${d.message} ${d.help ?? ''}`).join('\n')).toContain(message);
  });

  it.each([
    ['an unknown @effect', '@effect("allow_with_logging")\npermit(principal, action, resource);', 'unknown @effect("allow_with_logging")'],
    ['an @effect on a forbid', '@effect("escalate")\nforbid(principal, action, resource);', '@effect("escalate") is for permit policies'],
    ['@approvers without a checkpoint', '@approvers("finance-ops")\npermit(principal, action, resource);', '@approvers is for checkpoint permits'],
    ['@approvers that are not group names', '@effect("require_approval")\n@approvers("finance ops,")\npermit(principal, action, resource);', 'not a group name: "finance ops", ""'],
    ['an unknown @allowSideEffect', '@allowSideEffect("write")\npermit(principal, action, resource);', 'unknown @allowSideEffect("write")'],
    ['@allowSideEffect on a forbid', '@allowSideEffect("destructive")\nforbid(principal, action, resource);', '@allowSideEffect is for permit policies'],
    ['a @reason on a permit', '@reason("because")\npermit(principal, action, resource);', '@reason names the deny reason of a forbid policy'],
    ['a @reason that is not a code', '@reason("Not A Code")\nforbid(principal, action, resource);', '@reason("Not A Code") must be a snake_case code'],
  ])('refuses %s', (_what, text, message) => {
    expect(validatePolicySet({ 'the-policy': text })).toEqual({ ok: false, diagnostics: [{ policyId: 'the-policy', message: expect.stringContaining(message) }] });
    expect(() => loadPolicyBundle({ 'the-policy': text })).toThrow(PolicyError);
  });

  it('accepts @approvers with several groups and an annotation without a value elsewhere', () => {
    const loaded = loadPolicyBundle({ gate: '@owner\n@effect("escalate")\n@approvers("legal, finance-ops,legal")\npermit(principal, action, resource);' });
    expect(loaded.approvers).toEqual({ gate: ['finance-ops', 'legal'] });
  });

  it.each([
    ['more than 1000 policies', Object.fromEntries(Array.from({ length: POLICY_SET_LIMITS.maxPolicies + 1 }, (_, i) => [`p${i}`, 'permit(principal, action, resource);'])), undefined, 'at most 1000 policies; this one has 1001'],
    ['an id that is not allowed', { 'bad id!': 'permit(principal, action, resource);' }, 'bad id!', 'policy id must match'],
    ['an id that is too long', { ['p'.repeat(129)]: 'permit(principal, action, resource);' }, 'p'.repeat(129), 'policy id must match'],
    ['a text that is too long', { long: `permit(principal, action, resource) when { ${'true && '.repeat(2500)}true };` }, 'long', 'at most 20000 are allowed'],
    ['a text that is not a string', { odd: 42 as unknown as string }, 'odd', 'policy text must be a string'],
  ])('keeps to its limits: %s', (_what, policies, policyId, message) => {
    const result = validatePolicySet(policies);
    expect(result).toEqual({ ok: false, diagnostics: [{ ...(policyId === undefined ? {} : { policyId }), message: expect.stringContaining(message) }] });
  });

  it('accepts exactly 1000 policies and ids of 128 characters', () => {
    const many = Object.fromEntries(Array.from({ length: 999 }, (_, i) => [`p${i}`, 'permit(principal, action, resource) when { false };']));
    expect(validatePolicySet({ ...many, ['a'.repeat(128)]: 'permit(principal, action, resource) when { false };' })).toEqual({ ok: true });
  });

  it('reports every problem in one pass: a parse error, a validation error and an annotation error', () => {
    const result = validatePolicySet({
      broken: 'permit(principal, action, resource',
      typo: 'permit(principal is Agent, action, resource) when { principal.teir == "assist" };',
      gate: '@effect("maybe")\npermit(principal, action, resource);',
    });
    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect([...new Set(result.diagnostics.map((d) => d.policyId))].sort()).toEqual(['broken', 'gate', 'typo']);
  });

  it('makes loadPolicyBundle throw a PolicyError carrying the same diagnostics', () => {
    const policies = { typo: 'permit(principal is Agent, action, resource) when { principal.teir == "assist" };' };
    const result = validatePolicySet(policies);
    let thrown: unknown;
    try {
      loadPolicyBundle(policies);
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(PolicyError);
    expect((thrown as PolicyError).diagnostics).toEqual(result.ok ? [] : result.diagnostics);
    expect((thrown as PolicyError).message).toMatch(/^policy set is invalid: typo: .*attribute `teir` on entity type `Agent` not found/);
  });

  it('refuses a bundle whose version does not match its policies', () => {
    const forged: PolicyBundle = { ...seed, version: '0123456789abcdef', policies: { ...SEED_POLICIES, 'allow-all': 'permit(principal, action, resource);' } };
    const decision = decideIntent(forged, 'a', agentAt('assist', { status: 'retired' }), intent);
    expect(decision.effect).toBe('deny');
    expect(decision.reasons[0].code).toBe('policy_evaluation_failed');
    expect(decision.reasons[0].message).toContain('does not match its policies');
  });

  it('exports a schema Cedar parses', () => {
    expect(cedar.checkParseSchema(GOVMESH_CEDAR_SCHEMA)).toEqual({ type: 'success' });
  });
});

describe('autonomy tiers (seed policies)', () => {
  // Generic tools of public data and an agent of restricted clearance, so only the tier decides.
  it.each<[AutonomyTier, SideEffect, PolicyEffect, string, string[], boolean]>([
    ['assist', 'read', 'deny', 'no_permit', [], false],
    ['assist', 'write', 'deny', 'no_permit', [], false],
    ['assist', 'destructive', 'deny', 'tier_too_low_for_side_effect', [], false],
    ['assist', 'external_send', 'deny', 'no_permit', [], false],
    ['prepare', 'read', 'allow', 'permitted_by_policy', ['read-tools-above-assist'], false],
    ['prepare', 'write', 'require_approval', 'require_approval_by_policy', ['prepare-tier-changes-need-approval'], false],
    ['prepare', 'destructive', 'deny', 'tier_too_low_for_side_effect', [], false],
    ['prepare', 'external_send', 'deny', 'side_effect_not_explicitly_permitted', ['prepare-tier-changes-need-approval'], false],
    ['execute_low', 'read', 'allow', 'permitted_by_policy', ['read-tools-above-assist'], false],
    ['execute_low', 'write', 'allow', 'permitted_by_policy', ['execute-low-acts-within-policy'], false],
    ['execute_low', 'destructive', 'deny', 'tier_too_low_for_side_effect', [], false],
    ['execute_low', 'external_send', 'deny', 'side_effect_not_explicitly_permitted', ['execute-low-acts-within-policy'], false],
    ['execute_high', 'read', 'allow', 'permitted_by_policy', ['read-tools-above-assist'], false],
    ['execute_high', 'write', 'require_approval', 'require_approval_by_policy', ['execute-high-changes-need-approval'], true],
    ['execute_high', 'destructive', 'deny', 'side_effect_not_explicitly_permitted', ['execute-high-changes-need-approval'], false],
    ['execute_high', 'external_send', 'deny', 'side_effect_not_explicitly_permitted', ['execute-high-changes-need-approval'], false],
  ])('%s agent, %s tool: %s (%s)', (tier, sideEffect, effect, code, determining, verify) => {
    const decision = invoke(seed, agentAt(tier), toolFor(sideEffect));
    expect(decision.effect).toBe(effect);
    expect(decision.reasons.map((r) => r.code)).toEqual(determining.length > 1 ? determining.map(() => code) : [code]);
    expect(decision.determiningPolicies).toEqual(determining);
    expect(decision.effectiveTier).toBe(tier);
    expect(decision.verify).toBe(verify);
    expect(decision.approvers).toEqual([]);
  });

  it('names the side effect and the permits that lacked the annotation', () => {
    const decision = invoke(seed, agentAt('execute_high'), toolFor('destructive', { name: 'crm.delete_customer' }));
    expect(decision.reasons).toEqual([
      {
        code: 'side_effect_not_explicitly_permitted',
        message: 'tool "crm.delete_customer" is destructive: only a permit annotated @allowSideEffect("destructive") may allow it, and "execute-high-changes-need-approval" is not',
      },
    ]);
  });

  it.each<[string, AutonomyTier, AutonomyTier | undefined, AutonomyTier | undefined, Classification | undefined, AutonomyTier]>([
    ['the agent tier alone', 'execute_high', undefined, undefined, undefined, 'execute_high'],
    ['a lower workflow tier', 'execute_high', 'prepare', undefined, undefined, 'prepare'],
    ['a higher workflow tier (never raises)', 'prepare', 'execute_high', undefined, undefined, 'prepare'],
    ["the tool's max tier", 'execute_high', undefined, 'execute_low', undefined, 'execute_low'],
    ['public data (no cap)', 'execute_high', undefined, undefined, 'public', 'execute_high'],
    ['internal data (no cap)', 'execute_high', undefined, undefined, 'internal', 'execute_high'],
    ['confidential data', 'execute_high', undefined, undefined, 'confidential', 'execute_low'],
    ['restricted data', 'execute_high', undefined, undefined, 'restricted', 'prepare'],
    ['restricted data on an assist agent', 'assist', undefined, undefined, 'restricted', 'assist'],
    ['all four, least wins', 'execute_high', 'execute_low', 'execute_high', 'restricted', 'prepare'],
  ])('effectiveTier: %s', (_what, agent, workflow, toolMax, data, expected) => {
    expect(effectiveTier(agent, workflow, toolMax, data)).toBe(expected);
  });

  it.each<[string, Partial<ActionRequest>, ToolProfile, AutonomyTier, PolicyEffect]>([
    ['a prepare-tier workflow sends its writes for approval', { workflowTier: 'prepare' }, toolFor('write'), 'prepare', 'require_approval'],
    ['an assist-tier workflow gets no tools', { workflowTier: 'assist' }, toolFor('read'), 'assist', 'deny'],
    ["a tool's max tier caps the agent", {}, toolFor('write', { maxTier: 'prepare' }), 'prepare', 'require_approval'],
    ['a restricted target caps the tier at prepare', { resource: { type: 'account', id: 'acc-1', classification: 'restricted' } }, toolFor('write'), 'prepare', 'require_approval'],
    ['a confidential tool keeps execute_low', {}, toolFor('write', { classification: 'confidential' }), 'execute_low', 'allow'],
  ])('the effective tier decides: %s', (_what, extras, tool, tier, effect) => {
    const decision = invoke(seed, agentAt('execute_low'), tool, extras);
    expect(decision.effectiveTier).toBe(tier);
    expect(decision.effect).toBe(effect);
  });

  it('flags execute-high reads as not needing verification and writes as needing it', () => {
    expect(invoke(seed, agentAt('execute_high'), toolFor('read')).verify).toBe(false);
    expect(invoke(seed, agentAt('execute_high'), toolFor('write')).verify).toBe(true);
    expect(invoke(seed, agentAt('execute_high', { status: 'suspended' }), toolFor('write')).verify).toBe(false);
  });
});

describe('forbid wins', () => {
  it.each<[AgentIdentity['status'], AutonomyTier]>([
    ['retired', 'execute_high'],
    ['suspended', 'execute_high'],
    ['retired', 'execute_low'],
    ['suspended', 'prepare'],
  ])('a %s %s agent is denied every tool and intent, citing the forbid', (status, tier) => {
    const agent = agentAt(tier, { status });
    for (const decision of [invoke(seed, agent, toolFor('read')), invoke(seed, agent, toolFor('write')), decideIntent(seed, agent.id, agent, intent)]) {
      expect(decision.effect).toBe('deny');
      expect(decision.determiningPolicies).toEqual(['inactive-agents-forbidden']);
      expect(decision.reasons).toEqual([{ code: 'forbidden_by_policy', message: 'forbidden by policy "inactive-agents-forbidden": Suspended or retired agents may do nothing' }]);
    }
  });

  it.each<[string, string]>([
    ['a checkpoint permit', '@effect("require_approval")\npermit(principal, action, resource == Tool::"test.write");'],
    ['an escalation', '@effect("escalate")\npermit(principal, action, resource == Tool::"test.write");'],
    ['an annotated side-effect permit', '@allowSideEffect("destructive")\npermit(principal, action, resource == Tool::"test.write");'],
  ])('over %s', (_what, permit) => {
    const custom = loadPolicyBundle({ ...SEED_POLICIES, 'also-permit': permit, 'no-test-writes': '@description("Test writes are frozen")\nforbid(principal, action, resource == Tool::"test.write");' });
    const decision = invoke(custom, agentAt('execute_high'), toolFor('write'));
    expect(decision.effect).toBe('deny');
    expect(decision.reasons).toEqual([{ code: 'forbidden_by_policy', message: 'forbidden by policy "no-test-writes": Test writes are frozen' }]);
    expect(decision.approvers).toEqual([]);
  });
});

describe('deny by default', () => {
  it('denies when no policy permits, saying nothing matched', () => {
    const onlyIntents = loadPolicyBundle({ 'active-agents-submit-intents': SEED_POLICIES['active-agents-submit-intents'] });
    const decision = invoke(onlyIntents, agentAt('execute_high'), toolFor('read', { name: 'crm.lookup' }));
    expect(decision).toMatchObject({ effect: 'deny', determiningPolicies: [], approvers: [], verify: false });
    expect(decision.reasons).toEqual([{ code: 'no_permit', message: 'no policy permits agent-execute_high (tier execute_high) to InvokeTool Tool::"crm.lookup"; denied by default' }]);
  });

  it('names the effective tier when it differs from the agent’s', () => {
    const onlyIntents = loadPolicyBundle({ 'active-agents-submit-intents': SEED_POLICIES['active-agents-submit-intents'] });
    const decision = invoke(onlyIntents, agentAt('execute_high'), toolFor('read'), { workflowTier: 'prepare' });
    expect(decision.reasons[0].message).toContain('(tier execute_high, effective tier prepare)');
  });

  it('denies an intent when no policy permits intents', () => {
    const noIntents = loadPolicyBundle({ 'read-tools-above-assist': SEED_POLICIES['read-tools-above-assist'] });
    expect(decideIntent(noIntents, 'agent-prepare', agentAt('prepare'), intent).reasons).toEqual([
      { code: 'no_permit', message: 'no policy permits agent-prepare (tier prepare) to SubmitIntent Intent::"run-1"; denied by default' },
    ]);
  });

  it('denies an unregistered agent before looking at the tool, with a reason naming it', () => {
    const decision = invoke(seed, undefined, undefined);
    expect(outcome(decision)).toEqual({
      effect: 'deny',
      policyVersion: seed.version,
      determiningPolicies: [],
      approvers: [],
      verify: false,
      reasons: [{ code: 'agent_not_registered', message: 'agent "ghost-agent" is not registered; unknown agents are denied by default' }],
    });
    expect(decideIntent(seed, 'ghost-agent', undefined, intent).reasons.map((r) => r.code)).toEqual(['agent_not_registered']);
  });

  it('denies a tool that is not registered, naming it', () => {
    const decision = invoke(seed, agentAt('execute_high'), undefined);
    expect(decision.effect).toBe('deny');
    expect(decision.reasons).toEqual([{ code: 'tool_not_registered', message: 'tool "shell.exec" is not registered; unknown tools are denied by default' }]);
  });

  it('lets an active agent of any tier submit an intent, citing the policy', () => {
    for (const tier of ['assist', 'prepare', 'execute_low', 'execute_high'] as const) {
      const decision = decideIntent(seed, 'a', agentAt(tier), intent);
      expect(outcome(decision)).toEqual({
        effect: 'allow',
        policyVersion: seed.version,
        determiningPolicies: ['active-agents-submit-intents'],
        approvers: [],
        effectiveTier: tier,
        verify: false,
        reasons: [{ code: 'permitted_by_policy', message: 'Registered, active agents may submit intents (policy "active-agents-submit-intents")' }],
      });
    }
  });

  it('gives an intent the workflow-capped tier, which policies can read', () => {
    const custom = loadPolicyBundle({
      'only-prepared-intents': 'permit(principal is Agent, action == Action::"SubmitIntent", resource is Intent) when { context has workflowTier && context.effectiveTierRank <= 1 };',
    });
    expect(decideIntent(custom, 'a', agentAt('execute_high'), intent, { workflowTier: 'prepare' })).toMatchObject({ effect: 'allow', effectiveTier: 'prepare' });
    expect(decideIntent(custom, 'a', agentAt('execute_high'), intent).effect).toBe('deny');
  });
});

describe('classification against clearance', () => {
  const pairs = CLASSIFICATIONS.flatMap((data) => CLASSIFICATIONS.map((clearance) => [data, clearance] as const));
  it.each(pairs)('%s data, %s clearance', (data, clearance) => {
    const allowed = CLASSIFICATIONS.indexOf(data) <= CLASSIFICATIONS.indexOf(clearance);
    const decision = invoke(seed, agentAt('execute_low', { clearance }), toolFor('read', { classification: data }));
    expect(decision.effect).toBe(allowed ? 'allow' : 'deny');
    if (!allowed) {
      expect(decision.determiningPolicies).toEqual(['classification-above-clearance']);
      expect(decision.reasons).toEqual([{ code: 'classification_above_clearance', message: 'forbidden by policy "classification-above-clearance": No agent may touch data classified above its clearance' }]);
    }
  });

  it.each<[Classification, Classification | undefined, Classification, PolicyEffect]>([
    ['public', 'restricted', 'confidential', 'deny'],
    ['public', 'confidential', 'confidential', 'allow'],
    ['restricted', 'public', 'confidential', 'deny'],
    ['internal', undefined, 'internal', 'allow'],
  ])('takes the more sensitive of tool (%s) and target (%s) against clearance %s', (toolClass, targetClass, clearance, effect) => {
    const resource: ResourceProfile | undefined = targetClass && { type: 'account', id: 'acc-1', classification: targetClass, owner: 'ops' };
    const decision = invoke(seed, agentAt('execute_low', { clearance }), toolFor('read', { classification: toolClass }), { resource });
    expect(decision.effect).toBe(effect);
    expect(decision.request.context['dataClassification']).toBe(CLASSIFICATIONS[Math.max(CLASSIFICATIONS.indexOf(toolClass), targetClass ? CLASSIFICATIONS.indexOf(targetClass) : 0)]);
  });

  it('puts the target in the request so policies can read it', () => {
    const custom = loadPolicyBundle({
      ...SEED_POLICIES,
      'restricted-targets-escalate': '@effect("escalate")\n@approvers("security")\npermit(principal, action, resource) when { context has target && context.target.classification == "restricted" && context.target has owner && context.target.owner == "treasury" };',
    });
    const target: ResourceProfile = { type: 'account', id: 'acc-9', classification: 'restricted', owner: 'treasury' };
    const decision = invoke(custom, agentAt('execute_low'), toolFor('read'), { resource: target });
    expect(decision).toMatchObject({ effect: 'escalate', approvers: ['security'], determiningPolicies: ['restricted-targets-escalate'] });
    expect(decision.request.context['target']).toEqual({ __entity: { type: 'Resource', id: 'account:acc-9' } });
  });
});

describe('the invoice payment threshold', () => {
  it.each<[string, unknown, PolicyEffect, string, string[]]>([
    ['4999', 4999, 'allow', 'permitted_by_policy', []],
    ['5000', 5000, 'allow', 'permitted_by_policy', []],
    ['5001', 5001, 'require_approval', 'require_approval_by_policy', ['finance-leads', 'finance-ops']],
    ['5000.01 (rounded up)', 5000.01, 'require_approval', 'require_approval_by_policy', ['finance-leads', 'finance-ops']],
    ['"5001"', '5001', 'require_approval', 'require_approval_by_policy', ['finance-leads', 'finance-ops']],
    ['"4999.50" (rounded up to 5000)', '4999.50', 'allow', 'permitted_by_policy', []],
    ['"5000.0000000000000001" (rounded on the digits)', '5000.0000000000000001', 'require_approval', 'require_approval_by_policy', ['finance-leads', 'finance-ops']],
    ['82000', 82000, 'require_approval', 'require_approval_by_policy', ['finance-leads', 'finance-ops']],
    ['missing', undefined, 'deny', 'invoice_amount_required', []],
    ['zero', 0, 'deny', 'invoice_amount_required', []],
    ['negative', -250, 'deny', 'invoice_amount_required', []],
    ['not a number', 'a lot', 'deny', 'invoice_amount_required', []],
    ['NaN', Number.NaN, 'deny', 'invoice_amount_required', []],
    ['too large to be exact', 1e20, 'deny', 'invoice_amount_required', []],
  ])('amount %s: %s', (_what, amount, effect, code, approvers) => {
    const decision = pay(amount);
    expect(decision.effect).toBe(effect);
    expect(decision.reasons.map((r) => r.code)).toEqual([code]);
    expect(decision.approvers).toEqual(approvers);
  });

  it('says why a payment without an amount is refused', () => {
    expect(pay(undefined).reasons).toEqual([{ code: 'invoice_amount_required', message: 'forbidden by policy "invoice-payment-needs-positive-amount": An invoice payment must state a positive amount' }]);
  });

  it('caps an execute-high agent at execute-low for confidential invoices, so finance-ops still decides above 5000', () => {
    const decision = pay(6000, agentAt('execute_high'));
    expect(decision).toMatchObject({ effect: 'require_approval', effectiveTier: 'execute_low', approvers: ['finance-leads', 'finance-ops'], verify: false });
    expect(pay(100, agentAt('execute_high'))).toMatchObject({ effect: 'allow', effectiveTier: 'execute_low' });
  });

  it('sends a large payment by a prepare-tier agent to finance-ops, citing both checkpoints', () => {
    const decision = pay(6000, agentAt('prepare'));
    expect(decision.effect).toBe('require_approval');
    expect(decision.determiningPolicies).toEqual(['invoice-payment-above-5000-needs-finance-ops', 'prepare-tier-changes-need-approval']);
    expect(decision.approvers).toEqual(['finance-leads', 'finance-ops']);
  });
});

describe('approvers and checkpoint precedence', () => {
  const gate = (effect: string, approvers: string) => `@effect("${effect}")\n@approvers("${approvers}")\npermit(principal, action, resource == Tool::"test.write");`;
  const custom = loadPolicyBundle({
    ...SEED_POLICIES,
    'treasury-approves': gate('require_approval', 'treasury,finance-ops'),
    'audit-approves': gate('require_approval', 'audit,finance-ops'),
  });

  it('are the union of the determining checkpoint policies’ @approvers', () => {
    const decision = invoke(custom, agentAt('execute_low'), toolFor('write'));
    expect(decision.effect).toBe('require_approval');
    expect(decision.determiningPolicies).toEqual(['audit-approves', 'treasury-approves']);
    expect(decision.approvers).toEqual(['audit', 'finance-ops', 'treasury']);
  });

  it('come only from the winning checkpoint: escalate outranks require_approval', () => {
    const escalating = loadPolicyBundle({ ...custom.policies, 'security-escalates': gate('escalate', 'security') });
    const decision = invoke(escalating, agentAt('execute_low'), toolFor('write'));
    expect(decision.effect).toBe('escalate');
    expect(decision.determiningPolicies).toEqual(['security-escalates']);
    expect(decision.approvers).toEqual(['security']);
    expect(decision.reasons.map((r) => r.code)).toEqual(['escalate_by_policy']);
  });

  it.each<[string, PolicyEffect, Record<string, string>]>([
    ['allow alone', 'allow', {}],
    ['allow and require_approval', 'require_approval', { a: gate('require_approval', 'x') }],
    ['allow and escalate', 'escalate', { e: gate('escalate', 'x') }],
    ['all three', 'escalate', { a: gate('require_approval', 'x'), e: gate('escalate', 'y') }],
  ])('precedence: %s → %s', (_what, effect, extra) => {
    expect(invoke(loadPolicyBundle({ ...SEED_POLICIES, ...extra }), agentAt('execute_low'), toolFor('write')).effect).toBe(effect);
  });

  it('are empty when the checkpoint names none', () => {
    expect(invoke(seed, agentAt('prepare'), toolFor('write'))).toMatchObject({ effect: 'require_approval', approvers: [] });
  });
});

describe('destructive and external-send tools need an explicit permit', () => {
  const mail = seedTool('mail.send_external');
  const contractAgent = seedAgent('contract-renewal-agent');
  const send = (bundle: PolicyBundle, args: Record<string, unknown>) => decideAction(bundle, { agentId: contractAgent.id, agent: contractAgent, toolName: mail.name, tool: mail, arguments: args, runId: 'run-3' });

  it('sends external mail only after legal approves, on the permit that allows external_send', () => {
    const decision = send(seed, { to: 'Buyer <Buyer@Customer.Example>', subject: 'Renewal' });
    expect(decision).toMatchObject({ effect: 'require_approval', approvers: ['legal'], determiningPolicies: ['contract-renewal-external-mail-needs-legal'] });
    expect(decision.request.context).toMatchObject({ recipient: 'Buyer@Customer.Example', recipientDomain: 'customer.example' });
  });

  it('refuses external mail without one recipient address: only the unannotated tier permit matches', () => {
    const decision = send(seed, { to: ['a@x.example', 'b@y.example'] });
    expect(decision.effect).toBe('deny');
    expect(decision.reasons[0].code).toBe('side_effect_not_explicitly_permitted');
  });

  it.each<[string, string, SideEffect, PolicyEffect]>([
    ['a permit annotated for the class', '@allowSideEffect("destructive")', 'destructive', 'allow'],
    ['a permit annotated for another class', '@allowSideEffect("external_send")', 'destructive', 'deny'],
    ['an unannotated permit', '', 'destructive', 'deny'],
    ['an annotated permit for external_send', '@allowSideEffect("external_send")', 'external_send', 'allow'],
    ['an annotation on a write tool (no effect)', '@allowSideEffect("destructive")', 'write', 'allow'],
  ])('%s on a %s tool: %s', (_what, annotation, sideEffect, effect) => {
    const custom = loadPolicyBundle({ ...SEED_POLICIES, 'purge-permit': `${annotation}\npermit(principal is Agent, action == Action::"InvokeTool", resource == Tool::"crm.purge") when { context.effectiveTierRank >= 2 };` });
    // maxTier execute_low: the tier a destructive tool needs is that one, so the permits decide.
    const decision = invoke(custom, agentAt('execute_low'), toolFor(sideEffect, { name: 'crm.purge', maxTier: 'execute_low' }));
    expect(decision.effect).toBe(effect);
    if (effect === 'allow' && sideEffect !== 'write') expect(decision.determiningPolicies).toEqual(['purge-permit']);
  });
});

describe('destructive tools need execute_high unless their maxTier says otherwise', () => {
  /** The seed set plus a plain permit annotated for destructive calls of crm.purge. */
  const purgeable = loadPolicyBundle({
    ...SEED_POLICIES,
    'purge-permit': '@allowSideEffect("destructive")\npermit(principal is Agent, action == Action::"InvokeTool", resource == Tool::"crm.purge");',
  });
  const purge = (sideEffect: SideEffect, maxTier?: AutonomyTier) => toolFor(sideEffect, { name: 'crm.purge', ...(maxTier ? { maxTier } : {}) });
  const STRICTNESS: Record<PolicyEffect, number> = { allow: 0, require_approval: 1, escalate: 2, deny: 3 };

  it.each<[SideEffect, AutonomyTier | undefined, AutonomyTier | undefined]>([
    ['read', undefined, undefined],
    ['write', undefined, undefined],
    ['write', 'prepare', undefined],
    ['external_send', undefined, undefined],
    ['destructive', undefined, 'execute_high'],
    ['destructive', 'execute_high', 'execute_high'],
    ['destructive', 'execute_low', 'execute_low'],
    ['destructive', 'prepare', 'prepare'],
  ])('requiredTier: a %s tool with maxTier %s needs %s', (sideEffect, maxTier, expected) => {
    expect(requiredTier(purge(sideEffect, maxTier))).toBe(expected);
  });

  it.each<[AutonomyTier | undefined, AutonomyTier, PolicyEffect, string, string[], AutonomyTier, boolean]>([
    [undefined, 'assist', 'deny', 'tier_too_low_for_side_effect', [], 'assist', false],
    [undefined, 'prepare', 'deny', 'tier_too_low_for_side_effect', [], 'prepare', false],
    [undefined, 'execute_low', 'deny', 'tier_too_low_for_side_effect', [], 'execute_low', false],
    [undefined, 'execute_high', 'require_approval', 'require_approval_by_policy', ['execute-high-changes-need-approval'], 'execute_high', true],
    ['execute_low', 'prepare', 'deny', 'tier_too_low_for_side_effect', [], 'prepare', false],
    ['execute_low', 'execute_low', 'allow', 'permitted_by_policy', ['purge-permit'], 'execute_low', false],
    ['execute_low', 'execute_high', 'allow', 'permitted_by_policy', ['purge-permit'], 'execute_low', false],
    ['prepare', 'assist', 'deny', 'tier_too_low_for_side_effect', [], 'assist', false],
    ['prepare', 'prepare', 'require_approval', 'require_approval_by_policy', ['prepare-tier-changes-need-approval'], 'prepare', false],
    ['prepare', 'execute_high', 'require_approval', 'require_approval_by_policy', ['prepare-tier-changes-need-approval'], 'prepare', false],
  ])('maxTier %s, %s agent, under an annotated permit: %s (%s)', (maxTier, tier, effect, code, determining, effective, verify) => {
    const decision = invoke(purgeable, agentAt(tier), purge('destructive', maxTier));
    expect(decision.effect).toBe(effect);
    expect(decision.reasons.map((r) => r.code)).toEqual([code]);
    expect(decision.determiningPolicies).toEqual(determining);
    expect(decision.effectiveTier).toBe(effective);
    expect(decision.verify).toBe(verify);
  });

  it('says which tier the tool needs and which the call has, whatever the policies say', () => {
    const anything = loadPolicyBundle({ 'all-purges': '@allowSideEffect("destructive")\npermit(principal, action, resource);' });
    const decision = invoke(anything, agentAt('execute_high'), purge('destructive'), { workflowTier: 'execute_low' });
    expect(decision).toMatchObject({ effect: 'deny', effectiveTier: 'execute_low', determiningPolicies: [], approvers: [], verify: false });
    expect(decision.reasons).toEqual([
      {
        code: 'tier_too_low_for_side_effect',
        message: 'tool "crm.purge" is destructive: it may be used only at the effective tier execute_high, and this call\'s is execute_low (agent tier execute_high)',
      },
    ]);
    expect(invoke(anything, agentAt('execute_low'), purge('destructive', 'execute_low')).effect).toBe('allow');
    expect(invoke(anything, agentAt('prepare'), purge('destructive', 'execute_low')).reasons[0].message).toContain('the effective tier execute_low (its maxTier), and this call\'s is prepare');
  });

  it('records the whole request with the refusal, so the audit shows what was asked', () => {
    const { request } = invoke(purgeable, agentAt('execute_low'), purge('destructive'), { arguments: { accountId: 'acc-1' } });
    expect(request.refusal?.code).toBe('tier_too_low_for_side_effect');
    expect(request.context).toMatchObject({ effectiveTier: 'execute_low', accountId: 'acc-1' });
    expect(request.entities.map((e) => e.uid.type)).toEqual(['Agent', 'Tool']);
  });

  it('is never looser than a write of the same tool at any tier', () => {
    for (const tier of ['assist', 'prepare', 'execute_low', 'execute_high'] as const) {
      for (const maxTier of [undefined, 'prepare', 'execute_low', 'execute_high'] as const) {
        for (const workflowTier of [undefined, 'prepare'] as const) {
          const write = invoke(purgeable, agentAt(tier), purge('write', maxTier), { workflowTier });
          const destructive = invoke(purgeable, agentAt(tier), purge('destructive', maxTier), { workflowTier });
          expect({ tier, maxTier, workflowTier, stricter: STRICTNESS[destructive.effect] >= STRICTNESS[write.effect] }).toEqual({ tier, maxTier, workflowTier, stricter: true });
        }
      }
    }
  });

  it('keeps the tier checkpoint for an external send an annotated plain permit allows', () => {
    const custom = loadPolicyBundle({ ...SEED_POLICIES, 'notify-permit': '@allowSideEffect("external_send")\npermit(principal is Agent, action == Action::"InvokeTool", resource == Tool::"crm.notify");' });
    const notify = toolFor('external_send', { name: 'crm.notify' });
    expect(invoke(custom, agentAt('execute_high'), notify)).toMatchObject({ effect: 'require_approval', determiningPolicies: ['execute-high-changes-need-approval'], verify: true });
    expect(invoke(custom, agentAt('prepare'), notify)).toMatchObject({ effect: 'require_approval', determiningPolicies: ['prepare-tier-changes-need-approval'] });
    expect(invoke(custom, agentAt('execute_low'), notify)).toMatchObject({ effect: 'allow', determiningPolicies: ['notify-permit'] });
  });
});

describe('reevaluate', () => {
  const cases: Array<[string, () => PolicyDecision]> = [
    ['an allowed read', () => invoke(seed, agentAt('execute_low'), toolFor('read'))],
    ['a payment waiting for finance-ops', () => pay('5001')],
    ['a refused payment', () => pay(undefined)],
    ['an escalated target', () => invoke(seed, agentAt('execute_high', { groups: ['ops'] }), toolFor('write'), { resource: { type: 'account', id: 'a', classification: 'internal' }, workflow: 'triage', workflowTier: 'execute_high' })],
    ['an unknown agent', () => invoke(seed, undefined, undefined)],
    ['an unknown tool', () => invoke(seed, agentAt('prepare'), undefined)],
    ['a destructive call below its tier', () => invoke(seed, agentAt('execute_low'), toolFor('destructive'), { arguments: { amount: 3 } })],
    ['an intent', () => decideIntent(seed, 'a', agentAt('assist'), intent, { workflowTier: 'assist' })],
  ];

  it.each(cases)('decides %s the same way again from its stored request under the same bundle', (_what, decide) => {
    const original = decide();
    const stored = JSON.parse(JSON.stringify(original.request));
    expect(reevaluate(seed, stored)).toEqual(original);
  });

  it('tells what a changed bundle would decide: a higher threshold lets a 6000 payment through', () => {
    const original = pay(6000);
    const raised = loadPolicyBundle({
      ...SEED_POLICIES,
      'invoice-payment-above-5000-needs-finance-ops': SEED_POLICIES['invoice-payment-above-5000-needs-finance-ops'].replace('context.amount > 5000', 'context.amount > 10000'),
    });
    const simulated = reevaluate(raised, JSON.parse(JSON.stringify(original.request)));
    expect(original.effect).toBe('require_approval');
    expect(simulated).toMatchObject({ effect: 'allow', policyVersion: raised.version, determiningPolicies: ['execute-low-acts-within-policy'], approvers: [] });
  });

  it('tells what a stricter bundle would decide from attributes the original bundle never read', () => {
    const original = invoke(seed, agentAt('execute_low', { owner: 'contractor-pool' }), toolFor('write'));
    const stricter = loadPolicyBundle({ ...SEED_POLICIES, 'no-contractors': 'forbid(principal is Agent, action, resource) when { principal.owner == "contractor-pool" };' });
    expect(original.effect).toBe('allow');
    expect(reevaluate(stricter, original.request)).toMatchObject({ effect: 'deny', determiningPolicies: ['no-contractors'] });
  });

  it('repeats a refusal made before policy under any bundle', () => {
    const original = invoke(seed, undefined, undefined);
    const other = loadPolicyBundle({ anything: 'permit(principal, action, resource);' });
    expect(reevaluate(other, original.request)).toMatchObject({ effect: 'deny', policyVersion: other.version, reasons: original.reasons });
  });
});

describe('fail closed', () => {
  // Overflows for amounts above 1, is false for 1: it validates, and fails only at evaluation.
  const overflow = 'context has amount && context.amount * 4611686018427387904 > 4611686018427387904';

  it.each([
    ['forbid', `forbid(principal, action == Action::"InvokeTool", resource) when { ${overflow} };`],
    ['permit', `permit(principal, action == Action::"InvokeTool", resource) when { ${overflow} };`],
  ])('denies when a %s cannot be evaluated, naming it, instead of letting a permit decide', (_effect, text) => {
    const withBroken = loadPolicyBundle({ ...SEED_POLICIES, 'amount-check': text });
    const decision = pay(100, seedAgent('invoice-exceptions-agent'), withBroken);
    expect(decision.effect).toBe('deny');
    expect(decision.determiningPolicies).toEqual(['amount-check']);
    expect(decision.reasons).toEqual([{ code: 'policy_error', message: expect.stringContaining('policy "amount-check" could not be evaluated, so the request is denied: integer overflow') }]);
    expect(pay(1, seedAgent('invoice-exceptions-agent'), withBroken).effect).toBe('allow');
  });

  it('denies a recorded request Cedar cannot read', () => {
    const original = pay(100);
    const corrupted = { ...original.request, context: { ...original.request.context, amount: 100.5 } };
    const decision = reevaluate(seed, corrupted);
    expect(decision.effect).toBe('deny');
    expect(decision.reasons[0].code).toBe('policy_evaluation_failed');
  });
});

describe('requests', () => {
  it('conform to the schema, with every optional attribute present', () => {
    const agent = agentAt('execute_high', { groups: ['finance-ops', 'legal'] });
    const decision = invoke(seed, agent, toolFor('external_send', { name: 'mail.send_external', classification: 'internal', maxTier: 'execute_high' }), {
      arguments: { amount: '12.5', currency: 'usd', accountId: 'acc-1', recipient: 'someone@example.com' },
      resource: { type: 'contract', id: 'C-1', classification: 'internal', owner: 'legal' },
      workflow: 'contract-renewal',
      workflowTier: 'execute_high',
    });
    const { principal, action, resource, context, entities } = decision.request;
    expect(Object.keys(context).sort()).toEqual(
      ['accountId', 'amount', 'currency', 'dataClassification', 'dataClassificationRank', 'effectiveTier', 'effectiveTierRank', 'recipient', 'recipientDomain', 'runId', 'target', 'workflow', 'workflowTier'].sort(),
    );
    const checked = cedar.isAuthorized({ principal, action, resource, context, entities, schema: GOVMESH_CEDAR_SCHEMA, validateRequest: true, policies: { staticPolicies: {} } });
    expect(checked.type).toBe('success');
    const intentDecision = decideIntent(seed, agent.id, agent, intent, { workflowTier: 'prepare' });
    const r = intentDecision.request;
    expect(cedar.isAuthorized({ ...r, schema: GOVMESH_CEDAR_SCHEMA, validateRequest: true, policies: { staticPolicies: {} } }).type).toBe('success');
  });

  it('are refused by the schema check when they do not conform (the check above can fail)', () => {
    const decision = invoke(seed, agentAt('execute_low'), toolFor('read'));
    const { principal, action, resource, entities } = decision.request;
    const context = { ...decision.request.context, amount: 'many' };
    expect(cedar.isAuthorized({ principal, action, resource, context, entities, schema: GOVMESH_CEDAR_SCHEMA, validateRequest: true, policies: { staticPolicies: {} } }).type).toBe('failure');
  });

  it('put the agent’s groups in its parents for `principal in Group::…`', () => {
    const custom = loadPolicyBundle({ ...SEED_POLICIES, 'no-interns': '@reason("group_forbidden")\nforbid(principal in Group::"interns", action, resource);' });
    expect(invoke(custom, agentAt('execute_low', { groups: ['interns'] }), toolFor('read')).reasons[0].code).toBe('group_forbidden');
    expect(invoke(custom, agentAt('execute_low', { groups: ['staff'] }), toolFor('read')).effect).toBe('allow');
  });
});
