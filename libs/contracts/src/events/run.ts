import { Type, type Static } from '@sinclair/typebox';
import { AgentId, JsonObject, Reason, RunId, StepId } from './common';

export const RunOutcome = Type.Union([
  Type.Literal('verified'),
  /** The workflow finished with nothing to verify, or a reviewer recorded a step's outcome themselves: never `verified`. */
  Type.Literal('succeeded'),
  Type.Literal('denied'),
  Type.Literal('failed'),
  Type.Literal('verification_failed'),
  Type.Literal('timed_out'),
  Type.Literal('cancelled'),
  /** A reviewer rejected the action or checkpoint, or aborted an escalation. */
  Type.Literal('rejected'),
  /** Nobody decided before the approval expired: the run fails closed, never approved by default. */
  Type.Literal('expired'),
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

/** What a human is asked to decide: an action policy held for approval, a workflow checkpoint, or an edge case escalated with its state. */
export const ReviewKind = Type.Union([Type.Literal('approval'), Type.Literal('checkpoint'), Type.Literal('escalation')]);
export type ReviewKind = Static<typeof ReviewKind>;

export const ApprovalRequestedV1 = Type.Object(
  {
    runId: RunId,
    stepId: StepId,
    agentId: AgentId,
    /** Why a human is needed: policy's effect for an action, `checkpoint` for a workflow checkpoint, `edge_case` for an escalated edge case. */
    effect: Type.Union([Type.Literal('require_approval'), Type.Literal('escalate'), Type.Literal('checkpoint'), Type.Literal('edge_case')]),
    reasons: Type.Array(Reason, { minItems: 1 }),
    state: JsonObject,
    approvalId: Type.Optional(Type.String({ minLength: 1, maxLength: 64 })),
    kind: Type.Optional(ReviewKind),
    /** Groups whose reviewers may decide at the current level. */
    groups: Type.Optional(Type.Array(Type.String({ maxLength: 128 }), { maxItems: 32 })),
    /** Escalation level, from 1; a higher level after an SLA timer ran out. */
    level: Type.Optional(Type.Integer({ minimum: 1, maximum: 20 })),
    /** The digest of the action under review, for an action approval. */
    digest: Type.Optional(Type.String({ pattern: '^[a-f0-9]{64}$' })),
    expiresAt: Type.Optional(Type.String({ format: 'date-time' })),
  },
  { additionalProperties: false },
);
export type ApprovalRequestedV1 = Static<typeof ApprovalRequestedV1>;

/** A review item was decided by a reviewer, moved up a level, or expired. Audited with the reviewer's identity. */
export const ApprovalDecidedV1 = Type.Object(
  {
    runId: RunId,
    stepId: StepId,
    approvalId: Type.String({ minLength: 1, maxLength: 64 }),
    kind: ReviewKind,
    decision: Type.Union([
      Type.Literal('approved'),
      Type.Literal('rejected'),
      Type.Literal('edited'),
      Type.Literal('supplied'),
      Type.Literal('taken_over'),
      Type.Literal('aborted'),
      Type.Literal('escalated'),
      Type.Literal('expired'),
      Type.Literal('withdrawn'),
    ]),
    /** The reviewer (absent for an SLA escalation, an expiry or a withdrawal, which govmesh makes itself). */
    reviewer: Type.Optional(
      Type.Object(
        { id: Type.String({ minLength: 1, maxLength: 300 }), name: Type.Optional(Type.String({ maxLength: 200 })), groups: Type.Array(Type.String({ maxLength: 128 }), { maxItems: 64 }) },
        { additionalProperties: false },
      ),
    ),
    reason: Type.Optional(Type.String({ maxLength: 2000 })),
    /** The action digest the decision applies to (after an edit, the edited action's). */
    digest: Type.Optional(Type.String({ pattern: '^[a-f0-9]{64}$' })),
    level: Type.Optional(Type.Integer({ minimum: 1, maximum: 20 })),
  },
  { additionalProperties: false },
);
export type ApprovalDecidedV1 = Static<typeof ApprovalDecidedV1>;
