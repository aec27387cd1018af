import { cedar } from './cedar';

/**
 * The Cedar schema every policy set is validated against (strict mode), namespace-less.
 *
 * Entities
 * - `Agent in [Group]`: tier, status, owner, version, clearance (Strings) and tierRank,
 *   clearanceRank (Longs, see `TIER_RANK` and `CLASSIFICATION_RANK`). Its groups are its parents,
 *   so `principal in Group::"finance-ops"` works; Group has no attributes.
 * - `Tool`: sideEffect ("read" | "write" | "destructive" | "external_send"), classification, and
 *   classificationRank.
 * - `Resource`: the record a tool call acts on, with uid `Resource::"<kind>:<id>"`: kind,
 *   classification, classificationRank, owner (optional).
 * - `Workflow` (tier) is declared for policies to come; no request carries one yet.
 * - `Intent`: task.
 *
 * Actions
 * - `SubmitIntent` (Agent on Intent), context: effectiveTier / effectiveTierRank (the agent's tier
 *   capped by the workflow's) and the workflow's tier, if any.
 * - `InvokeTool` (Agent on Tool), context:
 *   - always: effectiveTier + effectiveTierRank (the least permissive of agent, workflow, tool and
 *     data), dataClassification + dataClassificationRank (the more sensitive of the tool's and
 *     the target's), runId;
 *   - when known: workflow (definition id), workflowTier, target (the `Resource` acted on; its
 *     entity is in the request, so `context.target.classification` can be read);
 *   - projected from the arguments when derivable (see `projectArguments`): amount (Long, whole
 *     units rounded up), currency, accountId, recipient, recipientDomain.
 *
 * Every optional attribute must be tested with `has` before use: the strict validator refuses a
 * policy that could read a missing attribute, so such a policy never reaches production.
 */
export const GOVMESH_CEDAR_SCHEMA = `
entity Group;

entity Agent in [Group] = {
  tier: String,
  status: String,
  owner: String,
  version: String,
  clearance: String,
  tierRank: Long,
  clearanceRank: Long,
};

entity Tool = {
  sideEffect: String,
  classification: String,
  classificationRank: Long,
};

entity Resource = {
  kind: String,
  classification: String,
  classificationRank: Long,
  owner?: String,
};

entity Workflow = {
  tier: String,
};

entity Intent = {
  task: String,
};

action SubmitIntent appliesTo {
  principal: Agent,
  resource: Intent,
  context: {
    effectiveTier: String,
    effectiveTierRank: Long,
    workflowTier?: String,
  },
};

action InvokeTool appliesTo {
  principal: Agent,
  resource: Tool,
  context: {
    effectiveTier: String,
    effectiveTierRank: Long,
    dataClassification: String,
    dataClassificationRank: Long,
    runId: String,
    workflow?: String,
    workflowTier?: String,
    target?: Resource,
    amount?: Long,
    currency?: String,
    accountId?: String,
    recipient?: String,
    recipientDomain?: String,
  },
};
`;

const parsed = cedar.checkParseSchema(GOVMESH_CEDAR_SCHEMA);
if (parsed.type === 'failure') throw new Error(`the govmesh Cedar schema does not parse: ${parsed.errors.map((e) => e.message).join('; ')}`);
