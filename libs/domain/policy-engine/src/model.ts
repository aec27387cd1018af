/** The vocabulary policy decides over: identities, tools, data, tiers and decisions. */

/** How much an agent may do on its own, from least to most autonomous (seeds/002). */
export type AutonomyTier = 'assist' | 'prepare' | 'execute_low' | 'execute_high';
export type Classification = 'public' | 'internal' | 'confidential' | 'restricted';
/**
 * What a tool does to the world; `destructive` and `external_send` need an explicitly annotated
 * permit, and a destructive tool is used only at the tier it needs (`requiredTier`).
 */
export type SideEffect = 'read' | 'write' | 'destructive' | 'external_send';
export type AgentStatus = 'active' | 'suspended' | 'retired';
export type PolicyEffect = 'allow' | 'deny' | 'require_approval' | 'escalate';

export const AUTONOMY_TIERS: readonly AutonomyTier[] = ['assist', 'prepare', 'execute_low', 'execute_high'];
export const CLASSIFICATIONS: readonly Classification[] = ['public', 'internal', 'confidential', 'restricted'];
export const SIDE_EFFECTS: readonly SideEffect[] = ['read', 'write', 'destructive', 'external_send'];

/** Ranks as policies see them (`tierRank`, `effectiveTierRank`): 0 = assist … 3 = execute_high. */
export const TIER_RANK: Readonly<Record<AutonomyTier, number>> = { assist: 0, prepare: 1, execute_low: 2, execute_high: 3 };
/** Ranks as policies see them (`clearanceRank`, `classificationRank`): 0 = public … 3 = restricted. */
export const CLASSIFICATION_RANK: Readonly<Record<Classification, number>> = { public: 0, internal: 1, confidential: 2, restricted: 3 };

/** The most autonomous tier data of a classification may be handled at; absent = no cap. */
export const CLASSIFICATION_TIER_CAP: Readonly<Partial<Record<Classification, AutonomyTier>>> = { confidential: 'execute_low', restricted: 'prepare' };

/** A non-human identity as policy sees it. */
export interface AgentIdentity {
  id: string;
  version: string;
  owner: string;
  tier: AutonomyTier;
  status: AgentStatus;
  /** The most sensitive data the agent may touch. */
  clearance: Classification;
  /** Groups the agent belongs to; policies test them with `principal in Group::"name"`. */
  groups?: string[];
}

export interface ToolProfile {
  name: string;
  sideEffect: SideEffect;
  classification: Classification;
  /** The most autonomous tier this tool may ever be used at (for a destructive tool, also the tier it needs). */
  maxTier?: AutonomyTier;
}

/**
 * The least autonomous effective tier a tool may be called at, whatever the policies say;
 * undefined when the policies alone decide. A destructive tool needs execute_high, the tier whose
 * changes a human approves and whose outcome is verified, unless its manifest names a `maxTier`:
 * then it needs exactly that tier (the effective tier never exceeds the tool's `maxTier`), so an
 * agent, workflow or data capped below it cannot use the tool at all.
 */
export function requiredTier(tool: ToolProfile): AutonomyTier | undefined {
  return tool.sideEffect === 'destructive' ? (tool.maxTier ?? 'execute_high') : undefined;
}

/** The record a tool call acts on, when the caller knows it. */
export interface ResourceProfile {
  type: string;
  id: string;
  classification: Classification;
  owner?: string;
}

export interface DecisionReason {
  code: string;
  message: string;
}

/** A Cedar JSON value as recorded: entity references are `{ "__entity": { "type", "id" } }`. */
export type CedarJson = string | number | boolean | null | CedarJson[] | { [key: string]: CedarJson };

export interface EntityRef {
  type: string;
  id: string;
}

export interface RecordedEntity {
  uid: EntityRef;
  attrs: Record<string, CedarJson>;
  parents: EntityRef[];
}

/**
 * Everything needed to decide one request again, later and under another policy bundle (impact
 * simulation, audit replay). Plain JSON: store it as it is. It holds every attribute the schema
 * defines, whether or not the bundle that decided it read them, so a stricter bundle can.
 */
export interface RecordedRequest {
  principal: EntityRef;
  action: { type: 'Action'; id: 'SubmitIntent' | 'InvokeTool' };
  resource: EntityRef;
  context: Record<string, CedarJson>;
  entities: RecordedEntity[];
  /** Set when the engine refused before asking Cedar (unknown agent or tool, a destructive tool below its tier); re-evaluation repeats it. */
  refusal?: DecisionReason;
}

export interface PolicyDecision {
  effect: PolicyEffect;
  reasons: DecisionReason[];
  policyVersion: string;
  /** Ids of the policies that determined the decision, sorted. */
  determiningPolicies: string[];
  /** Reviewer groups: the union of the `@approvers` of the determining checkpoint policies, sorted. */
  approvers: string[];
  /** The least permissive of the agent's, the workflow's, the tool's and the data's tiers. */
  effectiveTier?: AutonomyTier;
  /** The outcome must be verified against ground truth: an execute-high action that is not a read. */
  verify: boolean;
  request: RecordedRequest;
}

/** The least permissive tier of those given; data of a classification caps it as `CLASSIFICATION_TIER_CAP` says. */
export function effectiveTier(agentTier: AutonomyTier, workflowTier?: AutonomyTier, toolMaxTier?: AutonomyTier, dataClassification?: Classification): AutonomyTier {
  let tier = agentTier;
  const dataCap = dataClassification === undefined ? undefined : CLASSIFICATION_TIER_CAP[dataClassification];
  for (const cap of [workflowTier, toolMaxTier, dataCap]) {
    if (cap !== undefined && TIER_RANK[cap] < TIER_RANK[tier]) tier = cap;
  }
  return tier;
}

/** The more sensitive of two classifications. */
export function higherClassification(a: Classification, b: Classification | undefined): Classification {
  return b !== undefined && CLASSIFICATION_RANK[b] > CLASSIFICATION_RANK[a] ? b : a;
}
