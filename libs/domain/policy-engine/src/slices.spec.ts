import { cedar } from './cedar';
import { authorize, decideAction, decideIntent } from './decide';
import { SEED_POLICIES, loadPolicyBundle, type AgentIdentity, type AutonomyTier, type Classification, type RecordedRequest, type SideEffect, type ToolProfile } from './index';
import { SLICE_LIMITS, sliceFor } from './slices';

const TIERS: AutonomyTier[] = ['assist', 'prepare', 'execute_low', 'execute_high'];
const CLASSES: Classification[] = ['public', 'internal', 'confidential', 'restricted'];
const EFFECTS: SideEffect[] = ['read', 'write', 'destructive', 'external_send'];

/** A mixed set: per agent and tool, per agent, per tool, per group, action lists, and policies that error for some requests. */
function mixedPolicies(): Record<string, string> {
  const policies: Record<string, string> = { ...SEED_POLICIES };
  for (let i = 0; i < 12; i++) {
    policies[`agent-${i}-tool-${i}`] = `permit(principal == Agent::"agent-${i}", action == Action::"InvokeTool", resource == Tool::"tool-${i}") when { context has amount && context.amount <= ${i * 100} };`;
    policies[`agent-${i}-tool-${(i + 1) % 12}-gate`] =
      `@effect("escalate")\npermit(principal == Agent::"agent-${i}", action == Action::"InvokeTool", resource == Tool::"tool-${(i + 1) % 12}") when { context has currency && context.currency == "USD" };`;
  }
  for (let i = 0; i < 4; i++) {
    policies[`agent-${i}-no-restricted`] = `forbid(principal == Agent::"agent-${i}", action, resource is Tool) when { resource.classification == "restricted" };`;
    policies[`tool-${i}-group-gate`] = `@effect("require_approval")\n@approvers("g${i}")\npermit(principal in Group::"g${i}", action == Action::"InvokeTool", resource == Tool::"tool-${i}");`;
  }
  policies['owners-may-intend'] = 'permit(principal is Agent, action in [Action::"SubmitIntent", Action::"InvokeTool"], resource) when { principal.owner == "owner-1" };';
  // Error for amounts above 1, but only in their own scope.
  policies['agent-3-overflow'] = 'forbid(principal == Agent::"agent-3", action, resource is Tool) when { context has amount && context.amount * 4611686018427387904 > 4611686018427387904 };';
  policies['tool-5-overflow'] = 'permit(principal, action, resource == Tool::"tool-5") when { principal.tierRank * 4611686018427387904 > 4611686018427387904 };';
  policies['whole-context'] = 'permit(principal, action == Action::"SubmitIntent", resource) when { context == context && principal.clearanceRank > 2 };';
  return policies;
}

function requests(): RecordedRequest[] {
  const out: RecordedRequest[] = [];
  for (let a = 0; a < 8; a++) {
    const agent: AgentIdentity = {
      id: `agent-${a}`,
      version: '1',
      owner: `owner-${a % 3}`,
      tier: TIERS[a % 4],
      status: a === 7 ? 'suspended' : 'active',
      clearance: CLASSES[(a + 1) % 4],
      groups: [`g${a % 5}`],
    };
    out.push(decideIntent(bundle, agent.id, agent, { intentId: `i-${a}`, task: 't' }, a % 2 ? { workflowTier: 'prepare' } : {}).request);
    for (let t = 0; t < 8; t++) {
      const tool: ToolProfile = { name: `tool-${t}`, sideEffect: EFFECTS[t % 4], classification: CLASSES[t % 4] };
      for (const args of [{}, { amount: 1, currency: 'usd' }, { amount: 350, currency: 'eur' }]) {
        out.push(decideAction(bundle, { agentId: agent.id, agent, toolName: tool.name, tool, arguments: args, runId: 'r' }).request);
      }
    }
  }
  return out;
}

const bundle = loadPolicyBundle(mixedPolicies());

describe('slices', () => {
  it('decide every request exactly as Cedar does on the whole set with every attribute', () => {
    const all = requests();
    expect(all.length).toBe(8 + 8 * 8 * 3);
    let errored = 0;
    for (const request of all) {
      const sliced = authorize(bundle, request);
      const whole = cedar.isAuthorized({ ...request, policies: { staticPolicies: bundle.policies } });
      if (whole.type !== 'success' || sliced.type !== 'success') throw new Error(`evaluation failed for ${JSON.stringify(request)}`);
      const expected = {
        decision: whole.response.decision,
        satisfied: [...whole.response.diagnostics.reason].sort(),
        errored: whole.response.diagnostics.errors.map((e) => e.policyId).sort(),
      };
      expect({ request: request.resource.id, decision: sliced.decision, satisfied: sliced.satisfied, errored: sliced.errors.map((e) => e.policyId) }).toEqual({ request: request.resource.id, ...expected });
      if (expected.errored.length > 0) errored++;
    }
    expect(errored).toBeGreaterThan(0); // the comparison covered evaluation errors too
  });

  it('hold only the policies whose scope can match, and only the attributes they read', () => {
    const slice = sliceFor(bundle, { type: 'Agent', id: 'agent-2' }, 'InvokeTool', { type: 'Tool', id: 'tool-2' });
    const seedToolPolicies = Object.keys(SEED_POLICIES).filter((id) => !['active-agents-submit-intents', 'invoice-payment-needs-positive-amount', 'invoice-payment-above-5000-needs-finance-ops', 'contract-renewal-external-mail-needs-legal'].includes(id));
    expect(slice.policyIds.sort()).toEqual([...seedToolPolicies, 'agent-2-no-restricted', 'agent-2-tool-2', 'owners-may-intend', 'tool-2-group-gate'].sort());
    expect([...slice.attributes].sort()).toEqual(['amount', 'classification', 'classificationRank', 'clearanceRank', 'effectiveTier', 'effectiveTierRank', 'owner', 'sideEffect', 'status', 'target'].sort());
    expect(slice.wholeContext).toBe(false);
  });

  it('pass the whole context when a policy uses it as a value', () => {
    const slice = sliceFor(bundle, { type: 'Agent', id: 'agent-2' }, 'SubmitIntent', { type: 'Intent', id: 'any' });
    expect(slice.policyIds).toContain('whole-context');
    expect(slice.wholeContext).toBe(true);
  });

  it('are shared by requests no policy tells apart, so intents do not make one each', () => {
    const first = sliceFor(bundle, { type: 'Agent', id: 'agent-10' }, 'SubmitIntent', { type: 'Intent', id: 'intent-a' });
    expect(sliceFor(bundle, { type: 'Agent', id: 'agent-11' }, 'SubmitIntent', { type: 'Intent', id: 'intent-b' })).toBe(first);
    expect(sliceFor(bundle, { type: 'Agent', id: 'agent-1' }, 'InvokeTool', { type: 'Tool', id: 'tool-1' })).not.toBe(first);
  });

  it('fall back to the whole set past the per-bundle limit, deciding the same', () => {
    const limit = SLICE_LIMITS.perBundle;
    SLICE_LIMITS.perBundle = 1;
    try {
      const small = loadPolicyBundle({ ...mixedPolicies(), 'limit-test': 'permit(principal, action, resource) when { false };' });
      const a = sliceFor(small, { type: 'Agent', id: 'agent-1' }, 'InvokeTool', { type: 'Tool', id: 'tool-1' });
      const b = sliceFor(small, { type: 'Agent', id: 'agent-2' }, 'InvokeTool', { type: 'Tool', id: 'tool-2' });
      expect(a.id).not.toBe(small.version);
      expect(b.id).toBe(small.version);
      const request = requests().find((r) => r.principal.id === 'agent-2' && r.resource.id === 'tool-2')!;
      expect(authorize(small, request)).toEqual(authorize(bundle, request));
    } finally {
      SLICE_LIMITS.perBundle = limit;
    }
  });
});
