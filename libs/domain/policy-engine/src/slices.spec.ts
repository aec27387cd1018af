import { cedar } from './cedar';
import { authorize, decideAction, decideIntent } from './decide';
import { SEED_POLICIES, loadPolicyBundle, type AgentIdentity, type AutonomyTier, type Classification, type RecordedRequest, type SideEffect, type ToolProfile } from './index';
import { SLICE_LIMITS, compileCondition, sliceFor } from './slices';
import type { CedarJson, RecordedEntity } from './model';

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
  // Errors only for owner-2's agents: the false leading test spares the others, as in Cedar.
  policies['owner-2-overflow'] = 'forbid(principal is Agent, action == Action::"InvokeTool", resource) when { principal.owner == "owner-2" && context has amount && context.amount * 4611686018427387904 > 4611686018427387904 };';
  policies['g1-usd-high'] = 'forbid(principal is Agent in Group::"g1", action, resource) when { context has currency && context.currency == "USD" && principal.tierRank >= 3 };';
  policies['clearance-vs-class'] = '@effect("escalate")\npermit(principal is Agent, action == Action::"InvokeTool", resource is Tool) when { resource.classificationRank <= principal.clearanceRank && resource.sideEffect == "write" };';
  policies['g2-in-condition'] = 'forbid(principal, action == Action::"InvokeTool", resource) when { context has currency && principal in Group::"g2" && context.currency == "USD" };';
  policies['two-clauses'] = 'permit(principal, action == Action::"InvokeTool", resource) when { context.effectiveTierRank == 9 } unless { false };';
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
      groups: a % 2 ? [`g${a % 5}`, 'g1'] : [`g${a % 5}`],
    };
    out.push(decideIntent(bundle, agent.id, agent, { intentId: `i-${a}`, task: 't' }, a % 2 ? { workflowTier: 'prepare' } : {}).request);
    for (let t = 0; t < 8; t++) {
      const tool: ToolProfile = { name: `tool-${t}`, sideEffect: EFFECTS[t % 4], classification: CLASSES[t % 4] };
      for (const args of [{}, { amount: 1, currency: 'usd' }, { amount: 300, currency: 'eur' }, { amount: 350, currency: 'eur' }]) {
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
    expect(all.length).toBe(8 + 8 * 8 * 4);
    let errored = 0;
    for (const request of all) {
      const sliced = authorize(bundle, request);
      // A refusal (a destructive tool below its tier) is the engine's, not Cedar's: ask Cedar all the same.
      const { refusal: _refusal, ...asked } = request;
      const whole = cedar.isAuthorized({ ...asked, policies: { staticPolicies: bundle.policies } });
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

  it('hold only the policies whose scope can match and whose leading tests are not false, and only the attributes they read', () => {
    const small = loadPolicyBundle({
      'prepare-writes': 'permit(principal, action == Action::"InvokeTool", resource) when { context.effectiveTier == "prepare" && resource.sideEffect != "read" };',
      'execute-low-writes': 'permit(principal, action == Action::"InvokeTool", resource) when { context.effectiveTier == "execute_low" && resource.sideEffect != "read" };',
      'big-amounts': 'permit(principal, action == Action::"InvokeTool", resource) when { context has amount && context.amount > 100 };',
      'above-clearance': 'forbid(principal is Agent, action, resource is Tool) when { resource.classificationRank > principal.clearanceRank };',
      'overflowing': 'forbid(principal, action, resource) when { context has amount && context.amount * 4611686018427387904 > 4611686018427387904 };',
      'g1-only': 'permit(principal in Group::"g1", action, resource);',
      'two-clauses': 'permit(principal, action, resource) when { principal has owner } unless { false };',
      'either': 'permit(principal, action == Action::"InvokeTool", resource) when { context has recipient || context has amount };',
      'other-tool': 'permit(principal, action, resource == Tool::"other");',
      'intents': 'permit(principal, action == Action::"SubmitIntent", resource);',
    });
    const agent: AgentIdentity = { id: 'a', version: '1', owner: 'o', tier: 'execute_low', status: 'active', clearance: 'internal', groups: ['g2'] };
    const tool: ToolProfile = { name: 'crm.update', sideEffect: 'write', classification: 'internal' };
    const request = decideAction(small, { agentId: 'a', agent, toolName: tool.name, tool, arguments: { amount: 50 }, runId: 'r' }).request;
    const slice = sliceFor(small, request);
    expect(slice.policyIds).toEqual(['either', 'execute-low-writes', 'overflowing', 'two-clauses']);
    expect([...slice.attributes].sort()).toEqual(['amount', 'effectiveTier', 'owner', 'recipient', 'sideEffect']);
    expect(slice.wholeContext).toBe(false);
    expect(slice.usesHierarchy).toBe(false);

    const inG1 = decideAction(small, { agentId: 'a', agent: { ...agent, groups: ['g1'], tier: 'prepare', clearance: 'public' }, toolName: tool.name, tool, arguments: { amount: 500 }, runId: 'r' }).request;
    expect(sliceFor(small, inG1)).toMatchObject({
      policyIds: ['above-clearance', 'big-amounts', 'either', 'g1-only', 'overflowing', 'prepare-writes', 'two-clauses'],
      usesHierarchy: true,
    });
  });

  it('keep a policy whose leading test Cedar would fail on, so Cedar reports the error', () => {
    const small = loadPolicyBundle({ owners: 'permit(principal is Agent, action, resource) when { principal.owner == "o" };' });
    const agent: AgentIdentity = { id: 'a', version: '1', owner: 'o', tier: 'execute_low', status: 'active', clearance: 'internal' };
    const request = decideIntent(small, 'a', agent, { intentId: 'i', task: 't' }).request;
    const withoutOwner = { ...request, entities: request.entities.map((e) => (e.uid.type === 'Agent' ? { ...e, attrs: { ...e.attrs, owner: undefined as never } } : e)) };
    delete (withoutOwner.entities[0].attrs as Record<string, unknown>)['owner'];
    expect(sliceFor(small, withoutOwner).policyIds).toEqual(['owners']);
    expect(authorize(small, withoutOwner)).toMatchObject({ type: 'success', decision: 'deny', errors: [{ policyId: 'owners' }] });
    expect(sliceFor(small, { ...request, entities: request.entities.map((e) => (e.uid.type === 'Agent' ? { ...e, attrs: { ...e.attrs, owner: 'p' } } : e)) }).policyIds).toEqual([]);
  });

  it('pass the whole context when a policy uses it as a value', () => {
    const agent: AgentIdentity = { id: 'agent-2', version: '1', owner: 'o', tier: 'execute_low', status: 'active', clearance: 'restricted' };
    const slice = sliceFor(bundle, decideIntent(bundle, agent.id, agent, { intentId: 'i', task: 't' }).request);
    expect(slice.policyIds).toContain('whole-context');
    expect(slice.wholeContext).toBe(true);
  });

  it('are shared by requests no policy tells apart, so intents do not make one each', () => {
    const agent = (id: string): AgentIdentity => ({ id, version: '1', owner: 'o', tier: 'prepare', status: 'active', clearance: 'internal' });
    const first = sliceFor(bundle, decideIntent(bundle, 'agent-20', agent('agent-20'), { intentId: 'intent-a', task: 't' }).request);
    expect(sliceFor(bundle, decideIntent(bundle, 'agent-21', agent('agent-21'), { intentId: 'intent-b', task: 'u' }).request)).toBe(first);
    expect(sliceFor(bundle, decideIntent(bundle, 'agent-22', { ...agent('agent-22'), owner: 'owner-1' }, { intentId: 'intent-c', task: 'u' }).request)).not.toBe(first);
  });

  it('fall back to the whole set past the per-bundle limit, deciding the same', () => {
    const limit = SLICE_LIMITS.perBundle;
    SLICE_LIMITS.perBundle = 1;
    try {
      const small = loadPolicyBundle({ ...mixedPolicies(), 'limit-test': 'permit(principal, action, resource) when { false };' });
      const all = requests();
      const a = sliceFor(small, all[1]);
      const b = sliceFor(small, all[all.length - 1]);
      expect(a.id).not.toBe(small.version);
      expect(b.id).toBe(small.version);
      expect(authorize(small, all[all.length - 1])).toEqual(authorize(bundle, all[all.length - 1]));
    } finally {
      SLICE_LIMITS.perBundle = limit;
    }
  });
});

describe('compileCondition', () => {
  const conditions = [
    'context.amount > 5',
    'context.amount <= 100',
    'context.amount == 100',
    'context.amount != 100',
    'context.amount == "100"',
    'context.currency < 5',
    'context has amount && context.amount > 100',
    'context.amount > 100 || context has currency',
    '!(context has amount)',
    '!(context.amount > 5)',
    'context.currency like "E*"',
    'context.currency like "*\\*"',
    'context.currency like "US?"',
    'principal.owner == resource.owner',
    'principal.owner != resource.owner && principal.tierRank >= 2',
    'context.missing == 1',
    'principal.tierRank >= 2 && context.amount * 2 > 3',
    'true || context.missing == 1',
    'false && context.missing == 1',
    'context.missing == 1 || true',
    'context.flag == true',
    'context.flag',
    'principal has owner',
    'resource.owner like "*"',
    'context.amount > 9007199254740993',
  ];
  const contexts: Record<string, CedarJson>[] = [{}, { amount: 5 }, { amount: 100, currency: 'EUR' }, { amount: 500, currency: 'US*', flag: true }, { currency: 'USD', flag: false }];
  const entitySets: RecordedEntity[][] = [
    [
      { uid: { type: 'Agent', id: 'a' }, attrs: { owner: 'x', tierRank: 2 }, parents: [] },
      { uid: { type: 'Tool', id: 't' }, attrs: { owner: 'x' }, parents: [] },
    ],
    [
      { uid: { type: 'Agent', id: 'a' }, attrs: { owner: 'x', tierRank: 1 }, parents: [] },
      { uid: { type: 'Tool', id: 't' }, attrs: { owner: 'y' }, parents: [] },
    ],
    [{ uid: { type: 'Tool', id: 't' }, attrs: {}, parents: [] }],
  ];

  it('agrees with Cedar whenever it claims to know the outcome', () => {
    const counts = { true: 0, false: 0, unknown: 0 };
    for (const text of conditions) {
      const json = cedar.policyToJson(`permit(principal, action, resource) when { ${text} };`);
      if (json.type !== 'success') throw new Error(`${text} does not parse`);
      const condition = compileCondition(json.json.conditions[0].body);
      for (const context of contexts) {
        for (const entities of entitySets) {
          const attrs = (type: string) => entities.find((e) => e.uid.type === type)?.attrs;
          const outcome = condition({ principal: attrs('Agent'), resource: attrs('Tool'), context });
          if (typeof outcome !== 'boolean') {
            counts.unknown++;
            continue;
          }
          counts[outcome ? 'true' : 'false']++;
          const answer = cedar.isAuthorized({
            principal: { type: 'Agent', id: 'a' },
            action: { type: 'Action', id: 'InvokeTool' },
            resource: { type: 'Tool', id: 't' },
            context,
            entities,
            policies: { staticPolicies: { p: `permit(principal, action, resource) when { ${text} };` } },
          });
          if (answer.type !== 'success') throw new Error(`Cedar failed on ${text}`);
          expect({ text, context, entities: entities.length, decision: answer.response.decision, errors: answer.response.diagnostics.errors.length }).toEqual({
            text,
            context,
            entities: entities.length,
            decision: outcome ? 'allow' : 'deny',
            errors: 0,
          });
        }
      }
    }
    expect(counts.true).toBeGreaterThan(50);
    expect(counts.false).toBeGreaterThan(50);
    expect(counts.unknown).toBeGreaterThan(50);
  });
});
