import { Type, type Static } from '@sinclair/typebox';

/** Run ids are intent ids: producers choose them, so they must be safe as keys and in URLs. */
export const RunId = Type.String({ pattern: '^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$', description: 'Run id (= intent id): 1-128 chars of letters, digits, . _ : -' });
export const AgentId = Type.String({ pattern: '^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$' });
export const StepId = Type.String({ minLength: 1, maxLength: 64 });

export const Reason = Type.Object(
  {
    code: Type.String({ pattern: '^[a-z][a-z0-9_]*$', maxLength: 64, description: 'machine-readable code' }),
    message: Type.String({ minLength: 1, maxLength: 2000, description: 'a sentence for a human' }),
  },
  { additionalProperties: false },
);
export type Reason = Static<typeof Reason>;

export const Effect = Type.Union([Type.Literal('allow'), Type.Literal('deny'), Type.Literal('require_approval'), Type.Literal('escalate')]);
export type Effect = Static<typeof Effect>;

export const AutonomyTier = Type.Union([Type.Literal('assist'), Type.Literal('prepare'), Type.Literal('execute_low'), Type.Literal('execute_high')]);
export type AutonomyTier = Static<typeof AutonomyTier>;

export const JsonObject = Type.Record(Type.String(), Type.Unknown());

export const AgentStatus = Type.Union([Type.Literal('active'), Type.Literal('suspended'), Type.Literal('retired')]);
export type AgentStatus = Static<typeof AgentStatus>;

/** Data classification, least to most sensitive; an agent's clearance uses the same scale. */
export const Classification = Type.Union([Type.Literal('public'), Type.Literal('internal'), Type.Literal('confidential'), Type.Literal('restricted')]);
export type Classification = Static<typeof Classification>;
