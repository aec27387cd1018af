import { DEFAULT_POLICIES, PolicyError, decideAction, decideIntent, loadPolicyBundle, type AgentIdentity, type AutonomyTier, type ToolProfile } from './index';

const bundle = loadPolicyBundle();

function agent(tier: AutonomyTier, status: AgentIdentity['status'] = 'active'): AgentIdentity {
  return { id: `agent-${tier}-${status}`, version: '1.0.0', owner: 'support-team', tier, status };
}

const lookupAccount: ToolProfile = { name: 'sandbox.lookup_account', sideEffect: 'read' };
const transferFunds: ToolProfile = { name: 'sandbox.transfer_funds', sideEffect: 'write' };
const intent = { intentId: 'run-1', task: 'Check the balance of acc-001' };

describe('loadPolicyBundle', () => {
  it('loads the default policy set with its checkpoint effects and descriptions', () => {
    expect(Object.keys(bundle.policies).sort()).toEqual(Object.keys(DEFAULT_POLICIES).sort());
    expect(bundle.effects).toEqual({ 'write-tools-need-approval': 'require_approval' });
    expect(bundle.descriptions['inactive-agents-forbidden']).toBe('Suspended or retired agents may do nothing');
    expect(bundle.version).toMatch(/^[0-9a-f]{16}$/);
  });

  it('gives the same policy text the same version, whatever order the policies are listed in', () => {
    const reversed = Object.fromEntries(Object.entries(DEFAULT_POLICIES).reverse());
    expect(loadPolicyBundle(reversed).version).toBe(bundle.version);
    expect(loadPolicyBundle({ ...DEFAULT_POLICIES }).version).toBe(bundle.version);
  });

  it('changes the version when any policy text changes', () => {
    const loosened = { ...DEFAULT_POLICIES, 'read-tools-above-assist': DEFAULT_POLICIES['read-tools-above-assist'].replace(' && principal.tier != "assist"', '') };
    const changed = loadPolicyBundle(loosened);
    expect(changed.version).not.toBe(bundle.version);
    expect(decideAction(changed, 'a', agent('assist'), lookupAccount, lookupAccount.name).policyVersion).toBe(changed.version);
  });

  it('changes the version when a policy is renamed, added or removed', () => {
    const { 'inactive-agents-forbidden': forbid, ...rest } = DEFAULT_POLICIES;
    const versions = new Set([
      bundle.version,
      loadPolicyBundle(rest).version,
      loadPolicyBundle({ ...rest, 'no-inactive-agents': forbid }).version,
      loadPolicyBundle({ ...DEFAULT_POLICIES, extra: 'permit(principal, action, resource) when { false };' }).version,
    ]);
    expect(versions.size).toBe(4);
  });

  it('refuses a policy set that does not parse, saying so', () => {
    const broken = { ...DEFAULT_POLICIES, typo: 'permit(principal, action, resource' };
    expect(() => loadPolicyBundle(broken)).toThrow(PolicyError);
    expect(() => loadPolicyBundle(broken)).toThrow(/policy set does not parse: /);
  });

  it('refuses an @effect it does not know instead of silently allowing', () => {
    const policies = { 'maybe-tools': '@effect("allow_with_logging")\npermit(principal, action, resource);' };
    expect(() => loadPolicyBundle(policies)).toThrow(PolicyError);
    expect(() => loadPolicyBundle(policies)).toThrow('policy maybe-tools has unknown @effect("allow_with_logging")');
  });

  it('falls back to the policy id when a policy has no @description', () => {
    const loaded = loadPolicyBundle({ 'all-intents': 'permit(principal, action == Action::"SubmitIntent", resource);' });
    expect(loaded.descriptions).toEqual({ 'all-intents': 'all-intents' });
    expect(decideIntent(loaded, 'a', agent('assist'), intent).reasons).toEqual([{ code: 'permitted_by_policy', message: 'all-intents (policy "all-intents")' }]);
  });
});

describe('decideIntent', () => {
  it('lets an active agent submit an intent, citing the policy that permits it', () => {
    const decision = decideIntent(bundle, 'support-bot', agent('assist'), intent);
    expect(decision).toEqual({
      effect: 'allow',
      policyVersion: bundle.version,
      determiningPolicies: ['active-agents-submit-intents'],
      reasons: [{ code: 'permitted_by_policy', message: 'Registered, active agents may submit intents (policy "active-agents-submit-intents")' }],
    });
  });

  it('denies an unregistered agent by default, with a reason naming it', () => {
    const decision = decideIntent(bundle, 'ghost-agent', undefined, intent);
    expect(decision.effect).toBe('deny');
    expect(decision.policyVersion).toBe(bundle.version);
    expect(decision.reasons).toEqual([{ code: 'agent_not_registered', message: 'agent "ghost-agent" is not registered; unknown agents are denied by default' }]);
  });

  it.each(['retired', 'suspended'] as const)('denies a %s agent even at the highest tier, citing the forbid policy', (status) => {
    const decision = decideIntent(bundle, 'old-bot', agent('execute_high', status), intent);
    expect(decision.effect).toBe('deny');
    expect(decision.determiningPolicies).toEqual(['inactive-agents-forbidden']);
    expect(decision.reasons).toEqual([{ code: 'forbidden_by_policy', message: 'forbidden by policy "inactive-agents-forbidden": Suspended or retired agents may do nothing' }]);
  });

  it('denies by default when no policy permits, explaining that nothing matched', () => {
    const onlyTools = loadPolicyBundle({ 'read-tools-above-assist': DEFAULT_POLICIES['read-tools-above-assist'] });
    const a = agent('execute_high');
    const decision = decideIntent(onlyTools, a.id, a, intent);
    expect(decision.effect).toBe('deny');
    expect(decision.determiningPolicies).toEqual([]);
    expect(decision.reasons).toEqual([{ code: 'no_permit', message: `no policy permits ${a.id} (tier execute_high) to SubmitIntent Intent::"run-1"; denied by default` }]);
  });
});

describe('decideAction', () => {
  it('denies an assist-tier agent a read-only tool: assist agents only suggest', () => {
    const decision = decideAction(bundle, 'helper', agent('assist'), lookupAccount, lookupAccount.name);
    expect(decision.effect).toBe('deny');
    expect(decision.reasons[0].code).toBe('no_permit');
    expect(decision.reasons[0].message).toContain('(tier assist) to InvokeTool Tool::"sandbox.lookup_account"; denied by default');
  });

  it.each(['prepare', 'execute_low', 'execute_high'] as const)('allows a %s-tier agent a read-only tool', (tier) => {
    const decision = decideAction(bundle, 'reader', agent(tier), lookupAccount, lookupAccount.name);
    expect(decision.effect).toBe('allow');
    expect(decision.determiningPolicies).toEqual(['read-tools-above-assist']);
    expect(decision.reasons[0].code).toBe('permitted_by_policy');
  });

  it.each(['execute_low', 'execute_high'] as const)('sends a write tool from a %s-tier agent to a human for approval', (tier) => {
    const decision = decideAction(bundle, 'writer', agent(tier), transferFunds, transferFunds.name);
    expect(decision.effect).toBe('require_approval');
    expect(decision.determiningPolicies).toEqual(['write-tools-need-approval']);
    expect(decision.reasons).toEqual([
      { code: 'require_approval_by_policy', message: 'Tools that change a system of record need a human approval first (policy "write-tools-need-approval")' },
    ]);
  });

  it.each(['assist', 'prepare'] as const)('denies a write tool to a %s-tier agent outright', (tier) => {
    expect(decideAction(bundle, 'writer', agent(tier), transferFunds, transferFunds.name).effect).toBe('deny');
  });

  it('denies a retired agent even a read-only tool', () => {
    const decision = decideAction(bundle, 'old-bot', agent('execute_high', 'retired'), lookupAccount, lookupAccount.name);
    expect(decision.effect).toBe('deny');
    expect(decision.determiningPolicies).toEqual(['inactive-agents-forbidden']);
  });

  it('denies an unregistered agent before looking at the tool', () => {
    const decision = decideAction(bundle, 'ghost', undefined, undefined, 'sandbox.nope');
    expect(decision.reasons.map((r) => r.code)).toEqual(['agent_not_registered']);
  });

  it('denies a tool that is not registered, naming it', () => {
    const decision = decideAction(bundle, 'reader', agent('execute_high'), undefined, 'shell.exec');
    expect(decision).toEqual({
      effect: 'deny',
      policyVersion: bundle.version,
      determiningPolicies: [],
      reasons: [{ code: 'tool_not_registered', message: 'tool "shell.exec" is not registered; unknown tools are denied by default' }],
    });
  });

  it('lets escalate outrank require_approval when both policies permit the same action', () => {
    const custom = loadPolicyBundle({
      ...DEFAULT_POLICIES,
      'big-writes-escalate': `
@description("Writes by execute_high agents go to a senior reviewer")
@effect("escalate")
permit(principal is Agent, action == Action::"InvokeTool", resource is Tool)
when { resource.sideEffect == "write" && principal.tier == "execute_high" };`,
    });
    const high = decideAction(custom, 'w', agent('execute_high'), transferFunds, transferFunds.name);
    expect(high.effect).toBe('escalate');
    expect(high.determiningPolicies.sort()).toEqual(['big-writes-escalate', 'write-tools-need-approval']);
    expect(high.reasons.every((r) => r.code === 'escalate_by_policy')).toBe(true);
    expect(decideAction(custom, 'w', agent('execute_low'), transferFunds, transferFunds.name).effect).toBe('require_approval');
  });

  it('lets a forbid win over a checkpoint permit', () => {
    const custom = loadPolicyBundle({
      ...DEFAULT_POLICIES,
      'no-transfers': '@description("Transfers are frozen")\nforbid(principal, action, resource == Tool::"sandbox.transfer_funds");',
    });
    const decision = decideAction(custom, 'w', agent('execute_high'), transferFunds, transferFunds.name);
    expect(decision.effect).toBe('deny');
    expect(decision.reasons).toEqual([{ code: 'forbidden_by_policy', message: 'forbidden by policy "no-transfers": Transfers are frozen' }]);
  });
});

describe('fail closed', () => {
  it('denies when a forbid policy cannot be evaluated, instead of letting a permit through', () => {
    const withBrokenForbid = loadPolicyBundle({
      ...DEFAULT_POLICIES,
      'large-amounts-forbidden': 'forbid(principal, action, resource) when { resource.amount > 1000 };',
    });
    const decision = decideAction(withBrokenForbid, 'a', agent('prepare'), lookupAccount, lookupAccount.name);
    expect(decision.effect).toBe('deny');
    expect(decision.reasons[0].code).toBe('policy_error');
    expect(decision.reasons[0].message).toContain('large-amounts-forbidden');
  });
});
