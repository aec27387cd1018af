/** The roles a caller can hold. Each API names the roles it admits; nothing else gets in. */
export const ROLES = ['operator', 'reviewer', 'auditor', 'agent'] as const;
export type Role = (typeof ROLES)[number];

/**
 * An authenticated caller. API keys carry one role; an OIDC token may carry several. An agent
 * principal is bound to exactly one agent id, and acts only as that agent.
 */
export interface Principal {
  /** `key:<key id>` for an API key, `oidc:<issuer>#<sub>` for a token. */
  id: string;
  kind: 'api_key' | 'oidc';
  /** A human-readable name: the key's name or the token's subject. */
  name: string;
  roles: Role[];
  groups: string[];
  agentId?: string;
}

export function hasRole(principal: Principal, ...roles: Role[]): boolean {
  return principal.roles.some((r) => roles.includes(r));
}

/** A refused credential: 401 when it does not identify anyone, 403 when the role does not fit. */
export class AuthRefusal extends Error {
  constructor(
    readonly status: 401 | 403,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}
