import { Type, type Static } from '@sinclair/typebox';
import { ActionGrant } from './policy';
import { AgentId, JsonObject, Reason, RunId, StepId } from './common';

export const ContextRequestedV1 = Type.Object(
  { runId: RunId, stepId: StepId, agentId: AgentId, query: Type.String({ minLength: 1, maxLength: 4000 }), limit: Type.Integer({ minimum: 1, maximum: 20 }) },
  { additionalProperties: false },
);
export type ContextRequestedV1 = Static<typeof ContextRequestedV1>;

export const Citation = Type.Object(
  {
    documentId: Type.String(),
    title: Type.String(),
    excerpt: Type.String(),
    source: Type.String({ description: 'provenance: where the document came from' }),
    classification: Type.String(),
    updatedAt: Type.String({ format: 'date-time' }),
  },
  { additionalProperties: false },
);
export type Citation = Static<typeof Citation>;

export const ContextRetrievedV1 = Type.Object(
  { runId: RunId, stepId: StepId, citations: Type.Array(Citation), withheld: Type.Integer({ minimum: 0, description: 'matches the agent may not see' }) },
  { additionalProperties: false },
);
export type ContextRetrievedV1 = Static<typeof ContextRetrievedV1>;

export const Risk = Type.Union([Type.Literal('low'), Type.Literal('medium'), Type.Literal('high')]);

export const ModelRequestedV1 = Type.Object(
  {
    runId: RunId,
    stepId: StepId,
    agentId: AgentId,
    task: Type.String(),
    input: JsonObject,
    citations: Type.Array(Citation),
    risk: Risk,
    /** What the workflow's model step asks for, in its own words. */
    instructions: Type.Optional(Type.String({ maxLength: 8000 })),
    /** A structured-output step: the model answers with `output` matching this JSON Schema instead of proposing a tool call. */
    outputSchema: Type.Optional(JsonObject),
    /** Earlier steps' outputs the workflow passes to the model. */
    steps: Type.Optional(JsonObject),
  },
  { additionalProperties: false },
);
export type ModelRequestedV1 = Static<typeof ModelRequestedV1>;

const TokenUsage = Type.Object({ inputTokens: Type.Integer({ minimum: 0 }), outputTokens: Type.Integer({ minimum: 0 }) }, { additionalProperties: false });

/**
 * What one model call cost at its model's list price (the model router's price table, US dollars
 * per million tokens): `amount` = (inputTokens × inputPerMillion + outputTokens × outputPerMillion) / 1e6.
 * The prices are carried so the amount can be recomputed from the event alone.
 */
export const ModelCost = Type.Object(
  {
    amount: Type.Number({ minimum: 0 }),
    currency: Type.Literal('USD'),
    inputPerMillion: Type.Number({ minimum: 0 }),
    outputPerMillion: Type.Number({ minimum: 0 }),
  },
  { additionalProperties: false },
);
export type ModelCost = Static<typeof ModelCost>;

export const ModelCompletedV1 = Type.Object(
  {
    runId: RunId,
    stepId: StepId,
    model: Type.String(),
    provider: Type.String(),
    confidence: Type.Number({ minimum: 0, maximum: 1 }),
    proposal: Type.Union([
      Type.Object({ kind: Type.Literal('tool_call'), tool: Type.String(), arguments: JsonObject, rationale: Type.String() }, { additionalProperties: false }),
      Type.Object({ kind: Type.Literal('no_action'), rationale: Type.String() }, { additionalProperties: false }),
    ]),
    usage: TokenUsage,
    /** The call's cost at the model's list price; absent for a model without a price (unknown, not free) and in events of older producers. */
    cost: Type.Optional(ModelCost),
    /** How long the provider took to answer this call, in milliseconds. */
    latencyMs: Type.Optional(Type.Number({ minimum: 0 })),
    /**
     * The call the router made first and escalated from (its answer had a confidence below the
     * threshold, or its proposal was refused): that call was paid for too, so a run's model spend
     * is the sum over `cost` and `escalatedFrom.cost`.
     */
    escalatedFrom: Type.Optional(
      Type.Object(
        {
          model: Type.String(),
          provider: Type.String(),
          confidence: Type.Number({ minimum: 0, maximum: 1 }),
          usage: TokenUsage,
          cost: Type.Optional(ModelCost),
          latencyMs: Type.Optional(Type.Number({ minimum: 0 })),
        },
        { additionalProperties: false },
      ),
    ),
    /** The structured output, for a request that carried an `outputSchema`; the orchestrator checks it against the schema. */
    output: Type.Optional(JsonObject),
    /**
     * Why the router refused the model's tool-call proposal (a tool not in the catalog or retired,
     * arguments that do not match its input schema): the proposal is then `no_action` with confidence 0.
     */
    reasons: Type.Optional(Type.Array(Reason, { maxItems: 20 })),
  },
  { additionalProperties: false },
);
export type ModelCompletedV1 = Static<typeof ModelCompletedV1>;

export const ToolRequestedV1 = Type.Object(
  {
    runId: RunId,
    stepId: StepId,
    /** The step whose action policy granted (the grant is bound to it); the executing step when absent. */
    actionStepId: Type.Optional(StepId),
    agentId: AgentId,
    agentVersion: Type.Optional(Type.String()),
    tool: Type.String(),
    arguments: JsonObject,
    grant: ActionGrant,
    /** Run id + step-execution id: the same key never causes a second side effect, so a resumed run never repeats one. */
    idempotencyKey: Type.Optional(Type.String({ minLength: 1, maxLength: 300 })),
    /**
     * Check everything and call nothing: the gateway answers `dry_run` with the would-have-done
     * record (the tool version, its connection and the request it would have sent, credentials
     * never included) and performs no side effect. The grant is still required and used up.
     */
    dryRun: Type.Optional(Type.Boolean()),
  },
  { additionalProperties: false },
);
export type ToolRequestedV1 = Static<typeof ToolRequestedV1>;

export const RecordClaim = Type.Object(
  {
    system: Type.String({ description: 'system of record, e.g. sandbox' }),
    entity: Type.String(),
    id: Type.String(),
    fields: JsonObject,
  },
  { additionalProperties: false },
);
export type RecordClaim = Static<typeof RecordClaim>;

export const ToolExecutedV1 = Type.Object(
  {
    runId: RunId,
    stepId: StepId,
    tool: Type.String(),
    executionId: Type.String(),
    /** `dry_run`: a dry-run request passed every check and nothing was performed; `output` is the would-have-done record. */
    status: Type.Union([Type.Literal('succeeded'), Type.Literal('failed'), Type.Literal('rejected'), Type.Literal('dry_run')]),
    output: Type.Optional(JsonObject),
    claim: Type.Optional(RecordClaim),
    reasons: Type.Array(Reason),
    /** A failure that may succeed when tried again (the system was unavailable, the call timed out on an idempotent tool); absent or false: trying again will not help. */
    retryable: Type.Optional(Type.Boolean()),
  },
  { additionalProperties: false },
);
export type ToolExecutedV1 = Static<typeof ToolExecutedV1>;

export const VerificationRequestedV1 = Type.Object(
  {
    runId: RunId,
    stepId: StepId,
    claim: RecordClaim,
    /** The call whose claim this is: the manifest's verification checks of this tool apply. */
    tool: Type.Optional(Type.String({ maxLength: 128 })),
    executionId: Type.Optional(Type.String({ maxLength: 64 })),
    arguments: Type.Optional(JsonObject),
    output: Type.Optional(JsonObject),
  },
  { additionalProperties: false },
);
export type VerificationRequestedV1 = Static<typeof VerificationRequestedV1>;

export const VerificationCompletedV1 = Type.Object(
  {
    runId: RunId,
    stepId: StepId,
    verdict: Type.Union([Type.Literal('confirmed'), Type.Literal('mismatch'), Type.Literal('not_found'), Type.Literal('unsupported')]),
    observed: Type.Optional(JsonObject),
    reasons: Type.Array(Reason, { minItems: 1 }),
  },
  { additionalProperties: false },
);
export type VerificationCompletedV1 = Static<typeof VerificationCompletedV1>;
