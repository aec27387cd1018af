import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import canonicalize from 'canonicalize';

/**
 * Action grants bind a permission to the exact action: who (agent and version), what (tool and
 * canonical arguments) and under which policy version. The policy service signs them; the tool
 * gateway recomputes the digest from the request it received and executes nothing that does
 * not match.
 */
export interface ExactAction {
  agentId: string;
  agentVersion?: string;
  tool: string;
  arguments: Record<string, unknown>;
  policyVersion: string;
}

export interface SignedGrant {
  grantId: string;
  digest: string;
  policyVersion: string;
  expiresAt: string;
  signature: string;
}

export interface GrantProblem {
  code: 'grant_signature_invalid' | 'grant_digest_mismatch' | 'grant_expired';
  message: string;
}

/** sha256 over the RFC 8785 canonical JSON of the action. */
export function actionDigest(action: ExactAction): string {
  const canonical = canonicalize({
    agentId: action.agentId,
    agentVersion: action.agentVersion ?? null,
    tool: action.tool,
    arguments: action.arguments,
    policyVersion: action.policyVersion,
  });
  if (canonical === undefined) throw new Error('action cannot be canonicalized');
  return createHash('sha256').update(canonical).digest('hex');
}

function signaturePayload(grant: Omit<SignedGrant, 'signature'>): string {
  return `${grant.grantId}.${grant.digest}.${grant.policyVersion}.${grant.expiresAt}`;
}

export function signGrant(secret: string, grant: Omit<SignedGrant, 'signature'>): SignedGrant {
  const signature = createHmac('sha256', secret).update(signaturePayload(grant)).digest('base64url');
  return { ...grant, signature };
}

export function grantForAction(secret: string, action: ExactAction, grantId: string, now: Date, ttlSeconds: number): SignedGrant {
  return signGrant(secret, {
    grantId,
    digest: actionDigest(action),
    policyVersion: action.policyVersion,
    expiresAt: new Date(now.getTime() + ttlSeconds * 1000).toISOString(),
  });
}

/** Null when the grant authorizes exactly this action now; otherwise why not. */
export function checkGrant(secret: string, grant: SignedGrant, action: Omit<ExactAction, 'policyVersion'>, now: Date): GrantProblem | null {
  const expected = Buffer.from(signGrant(secret, grant).signature);
  const given = Buffer.from(grant.signature);
  if (expected.length !== given.length || !timingSafeEqual(expected, given)) {
    return { code: 'grant_signature_invalid', message: 'the grant signature does not verify; it was not issued by the policy service' };
  }
  const digest = actionDigest({ ...action, policyVersion: grant.policyVersion });
  if (digest !== grant.digest) {
    return { code: 'grant_digest_mismatch', message: 'the grant was issued for a different action (agent, tool or arguments differ)' };
  }
  const expiresAt = new Date(grant.expiresAt).getTime();
  if (Number.isNaN(expiresAt) || expiresAt <= now.getTime()) {
    return { code: 'grant_expired', message: `the grant expired at ${grant.expiresAt}` };
  }
  return null;
}
