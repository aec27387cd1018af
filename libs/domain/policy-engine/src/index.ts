import { createHash } from 'node:crypto';
import { setFlagsFromString } from 'node:v8';
import * as cedar from '@cedar-policy/cedar-wasm/nodejs';

// The V8 of Node 20 and 22 aborts with "unreachable code" when it deoptimizes a JS caller
// that TurboFan inlined a call to a Wasm function returning externref into, which Cedar's
// statefulIsAuthorized is. Node 24 fixed it; on older Node, keep such calls out of line.
if (Number(process.versions.node.split('.')[0]) < 24) setFlagsFromString('--no-turbo-inline-js-wasm-calls');

export type AutonomyTier = 'assist' | 'prepare' | 'execute_low' | 'execute_high';
export type AgentStatus = 'active' | 'suspended' | 'retired';
export type PolicyEffect = 'allow' | 'deny' | 'require_approval' | 'escalate';

/** A non-human identity as policy sees it. */
export interface AgentIdentity {
  id: string;
  version: string;
  owner: string;
  tier: AutonomyTier;
  status: AgentStatus;
}

export interface ToolProfile {
  name: string;
  sideEffect: 'read' | 'write';
}

export interface DecisionReason {
  code: string;
  message: string;
}

export interface PolicyDecision {
  effect: PolicyEffect;
  reasons: DecisionReason[];
  policyVersion: string;
  /** Ids of the policies that determined the decision. */
  determiningPolicies: string[];
}

export interface PolicyBundle {
  version: string;
  policies: Record<string, string>;
  /** `@effect("require_approval" | "escalate")` annotations turn a permit into a checkpoint. */
  effects: Record<string, PolicyEffect>;
  descriptions: Record<string, string>;
}

export const DEFAULT_POLICIES: Record<string, string> = {
  'active-agents-submit-intents': `
@description("Registered, active agents may submit intents")
permit(principal is Agent, action == Action::"SubmitIntent", resource is Intent)
when { principal.status == "active" };`,
  'read-tools-above-assist': `
@description("Agents above the Assist tier may use read-only tools")
permit(principal is Agent, action == Action::"InvokeTool", resource is Tool)
when { principal.status == "active" && resource.sideEffect == "read" && principal.tier != "assist" };`,
  'write-tools-need-approval': `
@description("Tools that change a system of record need a human approval first")
@effect("require_approval")
permit(principal is Agent, action == Action::"InvokeTool", resource is Tool)
when { principal.status == "active" && resource.sideEffect == "write" && (principal.tier == "execute_low" || principal.tier == "execute_high") };`,
  'inactive-agents-forbidden': `
@description("Suspended or retired agents may do nothing")
forbid(principal is Agent, action, resource)
when { principal.status != "active" };`,
};

export class PolicyError extends Error {}

function errorsOf(answer: { errors: Array<{ message: string }> }): string {
  return answer.errors.map((e) => e.message).join('; ');
}

/** Parses and checks a policy set; its version is the digest of its text. */
export function loadPolicyBundle(policies: Record<string, string> = DEFAULT_POLICIES): PolicyBundle {
  const check = cedar.checkParsePolicySet({ staticPolicies: policies });
  if (check.type === 'failure') throw new PolicyError(`policy set does not parse: ${errorsOf(check)}`);
  const effects: Record<string, PolicyEffect> = {};
  const descriptions: Record<string, string> = {};
  for (const [id, text] of Object.entries(policies)) {
    const json = cedar.policyToJson(text);
    if (json.type === 'failure') throw new PolicyError(`policy ${id} does not parse: ${errorsOf(json)}`);
    const annotations = (json.json.annotations ?? {}) as Record<string, string | null>;
    const effect = annotations['effect'];
    if (effect === 'require_approval' || effect === 'escalate') effects[id] = effect;
    else if (effect) throw new PolicyError(`policy ${id} has unknown @effect("${effect}")`);
    descriptions[id] = annotations['description'] ?? id;
  }
  const version = createHash('sha256')
    .update(JSON.stringify(Object.entries(policies).sort(([a], [b]) => a.localeCompare(b))))
    .digest('hex')
    .slice(0, 16);
  // Parsed once and cached by Cedar under the version, instead of parsing the text per decision.
  const preparsed = cedar.preparsePolicySet(version, { staticPolicies: policies });
  if (preparsed.type === 'failure') throw new PolicyError(`policy set does not parse: ${errorsOf(preparsed)}`);
  return { version, policies, effects, descriptions };
}

function agentEntity(agent: AgentIdentity): cedar.EntityJson {
  return {
    uid: { type: 'Agent', id: agent.id },
    attrs: { tier: agent.tier, status: agent.status, owner: agent.owner, version: agent.version },
    parents: [],
  };
}

interface ResourceEntity {
  type: string;
  id: string;
  attrs: Record<string, cedar.CedarValueJson>;
}

function authorize(bundle: PolicyBundle, agent: AgentIdentity, action: string, resource: ResourceEntity, context: cedar.Context): PolicyDecision {
  const answer = cedar.statefulIsAuthorized({
    principal: { type: 'Agent', id: agent.id },
    action: { type: 'Action', id: action },
    resource: { type: resource.type, id: resource.id },
    context,
    preparsedPolicySetId: bundle.version,
    entities: [agentEntity(agent), { uid: { type: resource.type, id: resource.id }, attrs: resource.attrs, parents: [] }],
  });
  if (answer.type === 'failure') {
    return { effect: 'deny', policyVersion: bundle.version, determiningPolicies: [], reasons: [{ code: 'policy_evaluation_failed', message: `policy evaluation failed: ${errorsOf(answer)}` }] };
  }
  const { decision, diagnostics } = answer.response;
  const ids = diagnostics.reason;
  if (diagnostics.errors.length > 0) {
    // Cedar skips a policy that errors, so a broken forbid would let a permit through: fail closed.
    return {
      effect: 'deny',
      policyVersion: bundle.version,
      determiningPolicies: ids,
      reasons: diagnostics.errors.map((e) => ({ code: 'policy_error', message: `policy "${e.policyId}" could not be evaluated, so the request is denied: ${e.error.message}` })),
    };
  }
  if (decision === 'deny') {
    const reasons = ids.length
      ? ids.map((id) => ({ code: 'forbidden_by_policy', message: `forbidden by policy "${id}": ${bundle.descriptions[id]}` }))
      : [{ code: 'no_permit', message: `no policy permits ${agent.id} (tier ${agent.tier}) to ${action} ${resource.type}::"${resource.id}"; denied by default` }];
    return { effect: 'deny', policyVersion: bundle.version, determiningPolicies: ids, reasons };
  }
  const checkpoint = ids.map((id) => bundle.effects[id]).find((e) => e === 'escalate') ?? ids.map((id) => bundle.effects[id]).find((e) => e === 'require_approval');
  return {
    effect: checkpoint ?? 'allow',
    policyVersion: bundle.version,
    determiningPolicies: ids,
    reasons: ids.map((id) => ({ code: checkpoint ? `${checkpoint}_by_policy` : 'permitted_by_policy', message: `${bundle.descriptions[id]} (policy "${id}")` })),
  };
}

function unregistered(agentId: string, bundle: PolicyBundle): PolicyDecision {
  return {
    effect: 'deny',
    policyVersion: bundle.version,
    determiningPolicies: [],
    reasons: [{ code: 'agent_not_registered', message: `agent "${agentId}" is not registered; unknown agents are denied by default` }],
  };
}

export function decideIntent(bundle: PolicyBundle, agentId: string, agent: AgentIdentity | undefined, intent: { intentId: string; task: string }): PolicyDecision {
  if (!agent) return unregistered(agentId, bundle);
  return authorize(bundle, agent, 'SubmitIntent', { type: 'Intent', id: intent.intentId, attrs: { task: intent.task } }, {});
}

export function decideAction(bundle: PolicyBundle, agentId: string, agent: AgentIdentity | undefined, tool: ToolProfile | undefined, toolName: string): PolicyDecision {
  if (!agent) return unregistered(agentId, bundle);
  if (!tool) {
    return { effect: 'deny', policyVersion: bundle.version, determiningPolicies: [], reasons: [{ code: 'tool_not_registered', message: `tool "${toolName}" is not registered; unknown tools are denied by default` }] };
  }
  return authorize(bundle, agent, 'InvokeTool', { type: 'Tool', id: tool.name, attrs: { sideEffect: tool.sideEffect } }, {});
}
