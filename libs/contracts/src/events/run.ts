import { Type, type Static } from '@sinclair/typebox';
import { AgentId, JsonObject, Reason, RunId, StepId } from './common';

export const RunOutcome = Type.Union([
  Type.Literal('verified'),
  Type.Literal('denied'),
  Type.Literal('failed'),
  Type.Literal('verification_failed'),
  Type.Literal('timed_out'),
  Type.Literal('cancelled'),
]);
export type RunOutcome = Static<typeof RunOutcome>;

export const RunCompletedV1 = Type.Object(
  {
    runId: RunId,
    agentId: AgentId,
    outcome: RunOutcome,
    reasons: Type.Array(Reason, { minItems: 1 }),
    result: Type.Optional(JsonObject),
    startedAt: Type.String({ format: 'date-time' }),
    completedAt: Type.String({ format: 'date-time' }),
  },
  { additionalProperties: false },
);
export type RunCompletedV1 = Static<typeof RunCompletedV1>;

export const ApprovalRequestedV1 = Type.Object(
  {
    runId: RunId,
    stepId: StepId,
    agentId: AgentId,
    effect: Type.Union([Type.Literal('require_approval'), Type.Literal('escalate')]),
    reasons: Type.Array(Reason, { minItems: 1 }),
    state: JsonObject,
  },
  { additionalProperties: false },
);
export type ApprovalRequestedV1 = Static<typeof ApprovalRequestedV1>;
