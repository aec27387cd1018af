import { Type, type Static } from '@sinclair/typebox';
import { AgentId, AgentStatus, AutonomyTier, Classification } from './common';

/** Who made a registry change: an authenticated principal, or govmesh itself (seed data at start). */
export const Actor = Type.Object(
  {
    kind: Type.Union([Type.Literal('operator'), Type.Literal('system')]),
    /** The principal's id: `key:<api key id>`, `oidc:<issuer>#<subject>`, or `system`. */
    id: Type.String({ minLength: 1, maxLength: 300 }),
    name: Type.Optional(Type.String({ maxLength: 200 })),
  },
  { additionalProperties: false },
);
export type Actor = Static<typeof Actor>;

/** An agent entry was registered or changed. Keyed by the agent id; audited like run events. */
export const AgentChangedV1 = Type.Object(
  {
    agentId: AgentId,
    change: Type.Union([Type.Literal('registered'), Type.Literal('updated'), Type.Literal('status_changed'), Type.Literal('version_added'), Type.Literal('key_revoked')]),
    agent: Type.Object(
      {
        version: Type.String({ minLength: 1, maxLength: 64 }),
        owner: Type.String({ minLength: 1, maxLength: 128 }),
        tier: AutonomyTier,
        status: AgentStatus,
        clearance: Type.Optional(Classification),
        /** Versions whose keys were revoked: their intents and outstanding grants are refused. */
        revokedVersions: Type.Optional(Type.Array(Type.String({ maxLength: 64 }), { maxItems: 1000 })),
      },
      { additionalProperties: false },
    ),
    previous: Type.Optional(Type.Object({ version: Type.String(), tier: AutonomyTier, status: Type.String(), clearance: Type.Optional(Classification) }, { additionalProperties: false })),
    reason: Type.Optional(Type.String({ maxLength: 2000 })),
    actor: Actor,
  },
  { additionalProperties: false },
);
export type AgentChangedV1 = Static<typeof AgentChangedV1>;

/** A policy set was activated (or rolled back to): every policy instance decides under it from now on. */
export const PolicyActivatedV1 = Type.Object(
  {
    /** Which policy set: one today (`default`); the key of these events. */
    policySet: Type.String({ pattern: '^[a-z][a-z0-9-]{0,63}$' }),
    version: Type.String({ pattern: '^[0-9a-f]{16}$' }),
    previousVersion: Type.Optional(Type.String({ pattern: '^[0-9a-f]{16}$' })),
    change: Type.Union([Type.Literal('activated'), Type.Literal('rolled_back'), Type.Literal('seeded')]),
    policies: Type.Integer({ minimum: 0 }),
    actor: Actor,
  },
  { additionalProperties: false },
);
export type PolicyActivatedV1 = Static<typeof PolicyActivatedV1>;

/** A connection id: a slug, 1-64 lowercase letters, digits, . _ - (starting with a letter or digit). */
export const ConnectionId = Type.String({ pattern: '^[a-z0-9][a-z0-9._-]{0,63}$', description: '1-64 lowercase letters, digits, . _ - (a slug)' });

/**
 * A connection was created, its secret rotated or the connection revoked. Keyed by the connection
 * id. Never carries the secret, nor anything derived from it (only the id of the master key).
 */
export const ConnectionChangedV1 = Type.Object(
  {
    connectionId: ConnectionId,
    change: Type.Union([Type.Literal('created'), Type.Literal('rotated'), Type.Literal('revoked')]),
    connection: Type.Object(
      {
        kind: Type.Union([Type.Literal('http'), Type.Literal('mcp'), Type.Literal('sandbox')]),
        endpoint: Type.Optional(Type.String({ maxLength: 2048 })),
        authMethod: Type.Union([Type.Literal('none'), Type.Literal('api_key_header'), Type.Literal('bearer'), Type.Literal('basic'), Type.Literal('oauth2_client_credentials')]),
        status: Type.Union([Type.Literal('active'), Type.Literal('revoked')]),
        version: Type.Integer({ minimum: 1 }),
        /** The master key the secret's data key is wrapped under; absent without a secret. */
        keyId: Type.Optional(Type.String({ maxLength: 64 })),
      },
      { additionalProperties: false },
    ),
    reason: Type.Optional(Type.String({ maxLength: 2000 })),
    actor: Actor,
  },
  { additionalProperties: false },
);
export type ConnectionChangedV1 = Static<typeof ConnectionChangedV1>;
