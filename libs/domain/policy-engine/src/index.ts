/**
 * `@govmesh/policy-engine`: pure policy decisions over Cedar (cedar-wasm), no framework.
 * - model.ts: tiers, classifications, identities, decisions, `effectiveTier`;
 * - schema.ts: the Cedar schema policies are validated against;
 * - bundle.ts: validating and loading policy sets (`validatePolicySet`, `loadPolicyBundle`);
 * - decide.ts: `decideIntent`, `decideAction`, `reevaluate`;
 * - arguments.ts: what of a tool call's arguments policies see (`projectArguments`);
 * - slices.ts: why a decision is fast on a large set;
 * - seed-policies.ts: the seed policy set, tools and agents.
 */
export * from './model';
export { GOVMESH_CEDAR_SCHEMA } from './schema';
export {
  POLICY_SET_LIMITS,
  PolicyError,
  loadPolicyBundle,
  policySetVersion,
  validatePolicySet,
  type CheckpointEffect,
  type ExplicitSideEffect,
  type PolicyBundle,
  type PolicyDiagnostic,
  type PolicyValidation,
} from './bundle';
export { decideAction, decideIntent, reevaluate, resourceUid, type ActionRequest, type IntentRequest } from './decide';
export { projectAmount, projectArguments, type ProjectedArguments } from './arguments';
export { DEFAULT_POLICIES, SEED_AGENTS, SEED_POLICIES, SEED_TOOL_PROFILES, type SeedAgent } from './seed-policies';
