import { Type, type Static } from '@sinclair/typebox';
import { AgentId, AutonomyTier, Effect, JsonObject, Reason, RunId, StepId } from './common';
import { IntentSubmittedV1 } from './intent';

/**
 * The Cedar policies a decision rests on, sorted: their ids as the policy set keys them (the keys
 * of `policies` in `GET /v1/policies/{policyVersion}`), which are the ids Cedar's authorization
 * diagnostics report. For `allow`, the permits that allowed it (for a destructive or external-send
 * tool, only those carrying `@allowSideEffect`); for `require_approval` and `escalate`, the
 * checkpoint permits (`@effect(...)`) that sent the work to a human, whose `@approvers` are the
 * decision's approvers (a decision on an action carrying a reviewer's approval keeps them, whether
 * the approval was honoured or refused); for `deny`, the forbids that matched, or the permits that
 * matched a destructive or external-send tool without `@allowSideEffect`, or the policies that
 * could not be evaluated (fail closed). Empty for a deny by default (no permit matched) and for a
 * refusal decided before Cedar (unknown agent or tool, tier too low, run not admitted, revoked key).
 * At most 64: a decision resting on more lists the first 64 (its reasons still name them all).
 */
export const DeterminingPolicies = Type.Array(Type.String({ minLength: 1, maxLength: 128 }), { maxItems: 64 });

export const IntentDecidedV1 = Type.Object(
  {
    runId: RunId,
    agentId: AgentId,
    agentVersion: Type.Optional(Type.String()),
    effect: Effect,
    reasons: Type.Array(Reason, { minItems: 1 }),
    policyVersion: Type.String(),
    /** The policies of that set the decision rests on (see `DeterminingPolicies`); absent in events of older producers. */
    policies: Type.Optional(DeterminingPolicies),
    tier: Type.Optional(AutonomyTier),
    intent: IntentSubmittedV1,
  },
  { additionalProperties: false },
);
export type IntentDecidedV1 = Static<typeof IntentDecidedV1>;

/** Signed by policy alone (Ed25519); the tool gateway holds only the public key. See docs/signing.md. */
export const ActionGrant = Type.Object(
  {
    grantId: Type.String({ minLength: 1, maxLength: 64 }),
    digest: Type.String({ pattern: '^[a-f0-9]{64}$', description: 'sha256 of the canonical action (RFC 8785): agent, version, tool, arguments, policy version' }),
    runId: RunId,
    stepId: StepId,
    agentId: AgentId,
    agentVersion: Type.String({ minLength: 1, maxLength: 64 }),
    policyVersion: Type.String({ maxLength: 64 }),
    issuedAt: Type.String({ format: 'date-time' }),
    expiresAt: Type.String({ format: 'date-time' }),
    keyId: Type.String({ pattern: '^[0-9a-f]{16}$' }),
    signature: Type.String({ pattern: '^[A-Za-z0-9_-]{86}$', description: 'Ed25519 over the canonical grant without this field' }),
  },
  { additionalProperties: false },
);
export type ActionGrant = Static<typeof ActionGrant>;

/** A reviewer's approval of one exact action, attested by the orchestrator that authenticated the reviewer (see docs/signing.md). */
export const ApprovalAttestation = Type.Object(
  {
    approvalId: Type.String({ minLength: 1, maxLength: 64 }),
    /** The action digest the reviewer approved (the same digest a grant binds to, without the policy version). */
    digest: Type.String({ pattern: '^[a-f0-9]{64}$' }),
    reviewer: Type.Object(
      {
        id: Type.String({ minLength: 1, maxLength: 300 }),
        name: Type.Optional(Type.String({ maxLength: 200 })),
        groups: Type.Array(Type.String({ maxLength: 128 }), { maxItems: 64 }),
      },
      { additionalProperties: false },
    ),
    /** The principal that submitted the run's intent: never the reviewer. */
    requester: Type.String({ minLength: 1, maxLength: 300 }),
    decidedAt: Type.String({ format: 'date-time' }),
    signature: Type.String({ pattern: '^[A-Za-z0-9_-]{86}$', description: 'Ed25519 by the orchestrator over the canonical attestation without this field' }),
  },
  { additionalProperties: false },
);
export type ApprovalAttestation = Static<typeof ApprovalAttestation>;

export const ActionProposedV1 = Type.Object(
  {
    runId: RunId,
    stepId: StepId,
    agentId: AgentId,
    agentVersion: Type.Optional(Type.String()),
    tool: Type.String({ minLength: 1, maxLength: 128 }),
    arguments: JsonObject,
    rationale: Type.Optional(Type.String({ maxLength: 4000 })),
    /** The workflow's autonomy tier: the effective tier is the least permissive of agent, workflow, tool and data. */
    workflowTier: Type.Optional(AutonomyTier),
    /** Present when a reviewer approved exactly this action: policy decides again and grants it only if the approval fits. */
    approval: Type.Optional(ApprovalAttestation),
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
    /** The policies of that set the decision rests on (see `DeterminingPolicies`); absent in events of older producers. */
    policies: Type.Optional(DeterminingPolicies),
    grant: Type.Optional(ActionGrant),
    /** Groups whose reviewers may approve, for require_approval and escalate. */
    approvers: Type.Optional(Type.Array(Type.String({ maxLength: 128 }), { maxItems: 32 })),
    effectiveTier: Type.Optional(AutonomyTier),
    /** Execute-high: the outcome must be confirmed against the system of record. */
    verify: Type.Optional(Type.Boolean()),
  },
  { additionalProperties: false },
);
export type ActionDecidedV1 = Static<typeof ActionDecidedV1>;
