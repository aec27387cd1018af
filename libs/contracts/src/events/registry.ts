import { Type, type Static } from '@sinclair/typebox';
import { AgentId, AutonomyTier } from './common';

/** Who made a registry change: an authenticated principal, or govmesh itself (seed data at start). */
export const Actor = Type.Object(
  {
    kind: Type.Union([Type.Literal('operator'), Type.Literal('system')]),
    id: Type.String({ minLength: 1, maxLength: 128 }),
  },
  { additionalProperties: false },
);
export type Actor = Static<typeof Actor>;

/** An agent entry was registered or changed. Keyed by the agent id; audited like run events. */
export const AgentChangedV1 = Type.Object(
  {
    agentId: AgentId,
    change: Type.Union([Type.Literal('registered'), Type.Literal('updated')]),
    agent: Type.Object(
      {
        version: Type.String({ minLength: 1, maxLength: 64 }),
        owner: Type.String({ minLength: 1, maxLength: 128 }),
        tier: AutonomyTier,
        status: Type.Union([Type.Literal('active'), Type.Literal('suspended'), Type.Literal('retired')]),
      },
      { additionalProperties: false },
    ),
    previous: Type.Optional(Type.Object({ version: Type.String(), tier: AutonomyTier, status: Type.String() }, { additionalProperties: false })),
    actor: Actor,
  },
  { additionalProperties: false },
);
export type AgentChangedV1 = Static<typeof AgentChangedV1>;
