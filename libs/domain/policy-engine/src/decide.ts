import { projectArguments } from './arguments';
import type { PolicyBundle } from './bundle';
import { cedar } from './cedar';
import {
  AUTONOMY_TIERS,
  CLASSIFICATION_RANK,
  TIER_RANK,
  effectiveTier,
  higherClassification,
  requiredTier,
  type AgentIdentity,
  type AutonomyTier,
  type CedarJson,
  type DecisionReason,
  type PolicyDecision,
  type RecordedEntity,
  type RecordedRequest,
  type ResourceProfile,
  type ToolProfile,
} from './model';
import { sliceFor } from './slices';

export interface IntentRequest {
  intentId: string;
  task: string;
}

export interface ActionRequest {
  agentId: string;
  /** The registry's record of the agent; undefined when it is not registered. */
  agent?: AgentIdentity;
  toolName: string;
  /** The registry's profile of the tool; undefined when it is not registered. */
  tool?: ToolProfile;
  /** The arguments the agent proposed; only `projectArguments` of them reaches policy. */
  arguments: Record<string, unknown>;
  /** The record the call acts on, when known. */
  resource?: ResourceProfile;
  /** The id of the workflow definition the run follows, when known. */
  workflow?: string;
  workflowTier?: AutonomyTier;
  runId: string;
}

function agentEntity(agentId: string, agent: AgentIdentity): RecordedEntity {
  return {
    uid: { type: 'Agent', id: agentId },
    attrs: {
      tier: agent.tier,
      status: agent.status,
      owner: agent.owner,
      version: agent.version,
      clearance: agent.clearance,
      tierRank: TIER_RANK[agent.tier],
      clearanceRank: CLASSIFICATION_RANK[agent.clearance],
    },
    parents: (agent.groups ?? []).map((group) => ({ type: 'Group', id: group })),
  };
}

/** The uid of the entity standing for a resource: `Resource::"<kind>:<id>"`. */
export function resourceUid(resource: ResourceProfile): { type: 'Resource'; id: string } {
  return { type: 'Resource', id: `${resource.type}:${resource.id}` };
}

function refused(principal: RecordedRequest['principal'], action: RecordedRequest['action'], resource: RecordedRequest['resource'], refusal: DecisionReason): RecordedRequest {
  return { principal, action, resource, context: {}, entities: [], refusal };
}

/** May this agent submit this intent? */
export function decideIntent(bundle: PolicyBundle, agentId: string, agent: AgentIdentity | undefined, intent: IntentRequest, options: { workflowTier?: AutonomyTier } = {}): PolicyDecision {
  const principal = { type: 'Agent', id: agentId };
  const action = { type: 'Action', id: 'SubmitIntent' } as const;
  const resource = { type: 'Intent', id: intent.intentId };
  if (!agent) return reevaluate(bundle, refused(principal, action, resource, notRegistered(agentId)));
  const tier = effectiveTier(agent.tier, options.workflowTier);
  const context: Record<string, CedarJson> = { effectiveTier: tier, effectiveTierRank: TIER_RANK[tier] };
  if (options.workflowTier !== undefined) context['workflowTier'] = options.workflowTier;
  return reevaluate(bundle, {
    principal,
    action,
    resource,
    context,
    entities: [agentEntity(agentId, agent), { uid: resource, attrs: { task: intent.task }, parents: [] }],
  });
}

/** May this agent make this tool call, and if so, on its own or after a human's approval? */
export function decideAction(bundle: PolicyBundle, req: ActionRequest): PolicyDecision {
  const principal = { type: 'Agent', id: req.agentId };
  const action = { type: 'Action', id: 'InvokeTool' } as const;
  const resource = { type: 'Tool', id: req.toolName };
  if (!req.agent) return reevaluate(bundle, refused(principal, action, resource, notRegistered(req.agentId)));
  if (!req.tool) {
    return reevaluate(
      bundle,
      refused(principal, action, resource, { code: 'tool_not_registered', message: `tool "${req.toolName}" is not registered; unknown tools are denied by default` }),
    );
  }
  const { agent, tool } = req;
  const dataClassification = higherClassification(tool.classification, req.resource?.classification);
  const tier = effectiveTier(agent.tier, req.workflowTier, tool.maxTier, dataClassification);
  const context: Record<string, CedarJson> = {
    effectiveTier: tier,
    effectiveTierRank: TIER_RANK[tier],
    dataClassification,
    dataClassificationRank: CLASSIFICATION_RANK[dataClassification],
    runId: req.runId,
  };
  if (req.workflow !== undefined) context['workflow'] = req.workflow;
  if (req.workflowTier !== undefined) context['workflowTier'] = req.workflowTier;
  const entities: RecordedEntity[] = [
    agentEntity(req.agentId, agent),
    { uid: resource, attrs: { sideEffect: tool.sideEffect, classification: tool.classification, classificationRank: CLASSIFICATION_RANK[tool.classification] }, parents: [] },
  ];
  if (req.resource) {
    const uid = resourceUid(req.resource);
    const attrs: Record<string, CedarJson> = { kind: req.resource.type, classification: req.resource.classification, classificationRank: CLASSIFICATION_RANK[req.resource.classification] };
    if (req.resource.owner !== undefined) attrs['owner'] = req.resource.owner;
    entities.push({ uid, attrs, parents: [] });
    context['target'] = { __entity: uid };
  }
  Object.assign(context, projectArguments(req.arguments));
  const request: RecordedRequest = { principal, action, resource, context, entities };
  // Below the tier its side effect needs, no policy can open the tool: refused before Cedar, with
  // the whole request recorded, so a replay under any bundle refuses it again.
  const needed = requiredTier(tool);
  if (needed !== undefined && TIER_RANK[tier] < TIER_RANK[needed]) {
    request.refusal = {
      code: 'tier_too_low_for_side_effect',
      message: `tool "${req.toolName}" is ${tool.sideEffect}: it may be used only at the effective tier ${needed}${tool.maxTier ? ' (its maxTier)' : ''}, and this call's is ${tier} (agent tier ${agent.tier})`,
    };
  }
  return reevaluate(bundle, request);
}

function notRegistered(agentId: string): DecisionReason {
  return { code: 'agent_not_registered', message: `agent "${agentId}" is not registered; unknown agents are denied by default` };
}

type CedarAnswer = { type: 'failure'; messages: string[] } | { type: 'success'; decision: 'allow' | 'deny'; satisfied: string[]; errors: Array<{ policyId: string; message: string }> };

function pick(attrs: Record<string, CedarJson>, names: Set<string>): Record<string, CedarJson> {
  const picked: Record<string, CedarJson> = {};
  for (const key in attrs) if (names.has(key)) picked[key] = attrs[key];
  return picked;
}

/** Asks Cedar, on the slice of the bundle that can match the request and with only the attributes that slice reads (see slices.ts). */
export function authorize(bundle: PolicyBundle, request: RecordedRequest): CedarAnswer {
  let answer: cedar.AuthorizationAnswer;
  try {
    const slice = sliceFor(bundle, request);
    answer = cedar.statefulIsAuthorized({
      principal: request.principal,
      action: request.action,
      resource: request.resource,
      context: slice.wholeContext ? request.context : pick(request.context, slice.attributes),
      entities: request.entities.map((e) => ({ uid: e.uid, attrs: pick(e.attrs, slice.attributes), parents: slice.usesHierarchy ? e.parents : [] })),
      preparsedPolicySetId: slice.id,
    });
  } catch (error) {
    return { type: 'failure', messages: [error instanceof Error ? error.message : String(error)] };
  }
  if (answer.type === 'failure') return { type: 'failure', messages: answer.errors.map((e) => e.message) };
  const { decision, diagnostics } = answer.response;
  return {
    type: 'success',
    decision,
    satisfied: [...diagnostics.reason].sort(),
    errors: diagnostics.errors.map((e) => ({ policyId: e.policyId, message: e.error.message })).sort((a, b) => a.policyId.localeCompare(b.policyId)),
  };
}

function tierOf(value: CedarJson | undefined): AutonomyTier | undefined {
  return AUTONOMY_TIERS.find((t) => t === value);
}

function entityOf(request: RecordedRequest, uid: { type: string; id: string }): RecordedEntity | undefined {
  return request.entities.find((e) => e.uid.type === uid.type && e.uid.id === uid.id);
}

/**
 * Decides a recorded request (the `request` of an earlier decision) under a bundle. Under the
 * bundle that decided it, the decision is the same; under another, it is what that bundle would
 * have decided (impact simulation).
 */
export function reevaluate(bundle: PolicyBundle, request: RecordedRequest): PolicyDecision {
  const base = { policyVersion: bundle.version, request, approvers: [] as string[], verify: false };
  const tier = tierOf(request.context['effectiveTier']);
  const withTier = tier === undefined ? base : { ...base, effectiveTier: tier };
  if (request.refusal) return { ...withTier, effect: 'deny', reasons: [request.refusal], determiningPolicies: [] };
  const answer = authorize(bundle, request);
  if (answer.type === 'failure') {
    return { ...withTier, effect: 'deny', determiningPolicies: [], reasons: [{ code: 'policy_evaluation_failed', message: `policy evaluation failed: ${answer.messages.join('; ')}` }] };
  }
  if (answer.errors.length > 0) {
    // Cedar skips a policy that errors, so a broken forbid would let a permit through: fail closed.
    return {
      ...withTier,
      effect: 'deny',
      determiningPolicies: [...new Set(answer.errors.map((e) => e.policyId))],
      reasons: answer.errors.map((e) => ({ code: 'policy_error', message: `policy "${e.policyId}" could not be evaluated, so the request is denied: ${e.message}` })),
    };
  }
  const ids = answer.satisfied;
  if (answer.decision === 'deny') {
    if (ids.length > 0) {
      const reasons = ids.map((id) => ({ code: bundle.reasonCodes[id] ?? 'forbidden_by_policy', message: `forbidden by policy "${id}": ${bundle.descriptions[id] ?? id}` }));
      return { ...withTier, effect: 'deny', determiningPolicies: ids, reasons };
    }
    const agentTier = entityOf(request, request.principal)?.attrs['tier'];
    const tierText = tier === undefined || tier === agentTier ? `tier ${String(agentTier ?? tier)}` : `tier ${String(agentTier)}, effective tier ${tier}`;
    const target = `${request.resource.type}::"${request.resource.id}"`;
    return {
      ...withTier,
      effect: 'deny',
      determiningPolicies: [],
      reasons: [{ code: 'no_permit', message: `no policy permits ${request.principal.id} (${tierText}) to ${request.action.id} ${target}; denied by default` }],
    };
  }
  // A destructive or external-send tool is allowed only by permits that say so explicitly. Such a
  // permit only opens the tool: a checkpoint any satisfied permit asks for (the tier's approval,
  // say) still applies, so the call is never looser than a write at the same tier.
  const sideEffect = request.action.id === 'InvokeTool' ? entityOf(request, request.resource)?.attrs['sideEffect'] : undefined;
  let permits = ids;
  if (sideEffect === 'destructive' || sideEffect === 'external_send') {
    permits = ids.filter((id) => bundle.sideEffectPermits[id] === sideEffect);
    if (permits.length === 0) {
      return {
        ...withTier,
        effect: 'deny',
        determiningPolicies: ids,
        reasons: [
          {
            code: 'side_effect_not_explicitly_permitted',
            message: `tool "${request.resource.id}" is ${sideEffect}: only a permit annotated @allowSideEffect("${sideEffect}") may allow it, and ${ids.map((id) => `"${id}"`).join(', ')} ${ids.length === 1 ? 'is' : 'are'} not`,
          },
        ],
      };
    }
  }
  const checkpoint = ids.some((id) => bundle.effects[id] === 'escalate') ? 'escalate' : ids.some((id) => bundle.effects[id] === 'require_approval') ? 'require_approval' : undefined;
  const determining = checkpoint ? ids.filter((id) => bundle.effects[id] === checkpoint) : permits;
  const approvers = [...new Set(determining.flatMap((id) => bundle.approvers[id] ?? []))].sort();
  return {
    ...withTier,
    effect: checkpoint ?? 'allow',
    determiningPolicies: determining,
    approvers,
    verify: tier === 'execute_high' && sideEffect !== undefined && sideEffect !== 'read',
    reasons: determining.map((id) => ({ code: checkpoint ? `${checkpoint}_by_policy` : 'permitted_by_policy', message: `${bundle.descriptions[id] ?? id} (policy "${id}")` })),
  };
}
