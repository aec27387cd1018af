import { Type, type Static } from '@sinclair/typebox';
import { AgentId, AutonomyTier, Effect, JsonObject, Reason, RunId, StepId } from './common';
import { IntentSubmittedV1 } from './intent';

export const IntentDecidedV1 = Type.Object(
  {
    runId: RunId,
    agentId: AgentId,
    agentVersion: Type.Optional(Type.String()),
    effect: Effect,
    reasons: Type.Array(Reason, { minItems: 1 }),
    policyVersion: Type.String(),
    tier: Type.Optional(AutonomyTier),
    intent: IntentSubmittedV1,
  },
  { additionalProperties: false },
);
export type IntentDecidedV1 = Static<typeof IntentDecidedV1>;

export const ActionGrant = Type.Object(
  {
    grantId: Type.String({ minLength: 1 }),
    digest: Type.String({ pattern: '^[a-f0-9]{64}$', description: 'sha256 of the canonical action (RFC 8785)' }),
    policyVersion: Type.String(),
    expiresAt: Type.String({ format: 'date-time' }),
    signature: Type.String({ minLength: 1, description: 'HMAC-SHA256 over grantId, digest, expiresAt' }),
  },
  { additionalProperties: false },
);
export type ActionGrant = Static<typeof ActionGrant>;

export const ActionProposedV1 = Type.Object(
  {
    runId: RunId,
    stepId: StepId,
    agentId: AgentId,
    agentVersion: Type.Optional(Type.String()),
    tool: Type.String({ minLength: 1, maxLength: 128 }),
    arguments: JsonObject,
    rationale: Type.Optional(Type.String({ maxLength: 4000 })),
  },
  { additionalProperties: false },
);
export type ActionProposedV1 = Static<typeof ActionProposedV1>;

export const ActionDecidedV1 = Type.Object(
  {
    runId: RunId,
    stepId: StepId,
    effect: Effect,
    reasons: Type.Array(Reason, { minItems: 1 }),
    policyVersion: Type.String(),
    grant: Type.Optional(ActionGrant),
  },
  { additionalProperties: false },
);
export type ActionDecidedV1 = Static<typeof ActionDecidedV1>;
