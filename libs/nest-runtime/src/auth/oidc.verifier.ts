import { Inject, Injectable } from '@nestjs/common';
import type { JWTPayload, JWTVerifyGetKey } from 'jose';
import { GOVMESH_CONFIG } from '../tokens';
import type { GovmeshConfig } from '../config';
import { AuthRefusal, ROLES, type Principal, type Role } from './principal';

const AGENT_ID = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/;
const GROUP = /^[A-Za-z0-9][A-Za-z0-9._:@/-]{0,127}$/;

/** Reads a claim by name, or by a dotted path into nested objects (`realm_access.roles`). */
function claim(payload: JWTPayload, path: string): unknown {
  if (path in payload) return payload[path];
  return path.split('.').reduce<unknown>((value, part) => (value && typeof value === 'object' ? (value as Record<string, unknown>)[part] : undefined), payload);
}

function strings(value: unknown): string[] {
  if (typeof value === 'string') return value.split(/[\s,]+/).filter(Boolean);
  return Array.isArray(value) ? value.filter((v): v is string => typeof v === 'string') : [];
}

/**
 * Bearer JWTs from an OIDC provider: the signature checked against the provider's JWKS (fetched
 * and cached by jose, refreshed when an unknown key id appears), issuer, audience, expiry; roles,
 * groups and the agent id come from configured claims. Unknown roles are ignored, not guessed.
 */
@Injectable()
export class OidcVerifier {
  /** jose is published as an ES module only: loaded once, on first use. */
  private jose?: Promise<typeof import('jose')>;
  private jwks?: JWTVerifyGetKey;

  constructor(@Inject(GOVMESH_CONFIG) private readonly config: GovmeshConfig) {}

  get enabled(): boolean {
    return this.config.oidc !== undefined;
  }

  async authenticate(token: string): Promise<Principal> {
    const oidc = this.config.oidc;
    if (!oidc) throw new AuthRefusal(401, 'credential_invalid', 'bearer tokens are not accepted here (no OIDC provider is configured); use an API key');
    this.jose ??= import('jose');
    const { createRemoteJWKSet, errors, jwtVerify } = await this.jose;
    this.jwks ??= createRemoteJWKSet(new URL(oidc.jwksUrl), { timeoutDuration: 5000, cooldownDuration: 30000 });
    let payload: JWTPayload;
    try {
      ({ payload } = await jwtVerify(token, this.jwks, {
        issuer: oidc.issuer,
        audience: oidc.audience,
        algorithms: ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA'],
        clockTolerance: 30,
        requiredClaims: ['exp', 'sub'],
      }));
    } catch (err) {
      if (err instanceof errors.JWTExpired) throw new AuthRefusal(401, 'token_expired', 'the bearer token has expired');
      if (err instanceof errors.JOSEError) throw new AuthRefusal(401, 'token_invalid', `the bearer token was refused: ${err.message}`);
      throw new AuthRefusal(401, 'token_unverifiable', `the bearer token could not be verified: ${(err as Error).message}`);
    }
    const roles = strings(claim(payload, oidc.rolesClaim)).filter((r): r is Role => (ROLES as readonly string[]).includes(r));
    const groups = strings(claim(payload, oidc.groupsClaim)).filter((g) => GROUP.test(g));
    const agentClaim = claim(payload, oidc.agentClaim);
    const agentId = typeof agentClaim === 'string' && AGENT_ID.test(agentClaim) ? agentClaim : undefined;
    if (roles.includes('agent') && !agentId) {
      throw new AuthRefusal(401, 'token_invalid', `a token with the agent role must name its agent in the "${oidc.agentClaim}" claim`);
    }
    return { id: `oidc:${payload.iss}#${payload.sub}`, kind: 'oidc', name: String(payload.sub), roles, groups, ...(agentId ? { agentId } : {}) };
  }
}
