import { createHash, type KeyObject } from 'node:crypto';
import canonicalize from 'canonicalize';
import { keyIdOf, loadPrivateKey, loadPublicKey, parseRfc3339, sign, verify } from '@govmesh/signing';

/**
 * Action grants bind a permission to the exact action: who (agent and version), what (tool and
 * canonical arguments), under which policy version, for which run and step, and for how long.
 * The policy service signs them with its Ed25519 key; the tool gateway holds only the public key,
 * recomputes the digest from the request it received and executes nothing that does not match.
 */
export interface ExactAction {
  agentId: string;
  agentVersion: string;
  tool: string;
  arguments: Record<string, unknown>;
  policyVersion: string;
}

export interface SignedGrant {
  grantId: string;
  /** sha256 hex of the canonical action (see `actionDigest`). */
  digest: string;
  runId: string;
  stepId: string;
  agentId: string;
  agentVersion: string;
  policyVersion: string;
  issuedAt: string;
  expiresAt: string;
  /** The first 16 hex characters of sha256 over the raw signing public key. */
  keyId: string;
  /** base64url Ed25519 signature over the RFC 8785 canonical JSON of every other field. */
  signature: string;
}

/** What the gateway received and wants to execute. */
export interface GrantedRequest {
  runId: string;
  stepId: string;
  agentId: string;
  agentVersion: string;
  tool: string;
  arguments: Record<string, unknown>;
}

export type GrantProblemCode =
  | 'grant_malformed'
  | 'grant_key_unknown'
  | 'grant_signature_invalid'
  | 'grant_wrong_run'
  | 'grant_digest_mismatch'
  | 'grant_expired'
  | 'grant_not_yet_valid';

export interface GrantProblem {
  code: GrantProblemCode;
  message: string;
}

/** How far ahead of the gateway's clock `issuedAt` may be (clock skew between policy and gateway). */
export const GRANT_MAX_CLOCK_SKEW_SECONDS = 30;

const GRANT_FIELDS = ['grantId', 'digest', 'runId', 'stepId', 'agentId', 'agentVersion', 'policyVersion', 'issuedAt', 'expiresAt', 'keyId', 'signature'] as const;

/** sha256 hex over the RFC 8785 canonical JSON of the action. */
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

/** The exact text that is signed: canonical JSON of every grant field but `signature`. */
function signedPayload(grant: Omit<SignedGrant, 'signature'>): string {
  const fields: Record<string, string> = {};
  for (const field of GRANT_FIELDS) if (field !== 'signature') fields[field] = grant[field];
  return canonicalize(fields) as string;
}

/**
 * Issues a grant for exactly this action in this run and step, valid from `now` for
 * `ttlSeconds`. `signingKey` is the policy service's Ed25519 private key (a KeyObject, a
 * PKCS#8 PEM or a base64url seed).
 */
export function issueGrant(
  signingKey: KeyObject | string,
  action: ExactAction,
  binding: { runId: string; stepId: string },
  grantId: string,
  now: Date,
  ttlSeconds: number,
): SignedGrant {
  if (!Number.isFinite(ttlSeconds) || ttlSeconds <= 0) throw new RangeError(`a grant must live a positive number of seconds, not ${ttlSeconds}`);
  if (Number.isNaN(now.getTime())) throw new RangeError('a grant needs a valid issue time');
  const key = loadPrivateKey(signingKey);
  const fields: Omit<SignedGrant, 'signature'> = {
    grantId,
    digest: actionDigest(action),
    runId: binding.runId,
    stepId: binding.stepId,
    agentId: action.agentId,
    agentVersion: action.agentVersion,
    policyVersion: action.policyVersion,
    issuedAt: now.toISOString(),
    expiresAt: new Date(now.getTime() + ttlSeconds * 1000).toISOString(),
    keyId: keyIdOf(key),
  };
  return { ...fields, signature: sign(key, signedPayload(fields)) };
}

function malformed(message: string): GrantProblem {
  return { code: 'grant_malformed', message };
}

/** A reason the value is not a grant of the current shape, or null. */
function shapeProblem(grant: unknown): GrantProblem | null {
  if (grant === null || typeof grant !== 'object' || Array.isArray(grant)) return malformed('the grant is not an object');
  const record = grant as Record<string, unknown>;
  const missing = GRANT_FIELDS.filter((f) => typeof record[f] !== 'string' || record[f] === '');
  if (missing.length > 0) return malformed(`the grant lacks ${missing.join(', ')}; it is not a grant issued by this policy service`);
  const unknown = Object.keys(record).filter((k) => !(GRANT_FIELDS as readonly string[]).includes(k));
  if (unknown.length > 0) return malformed(`the grant has fields no grant has (${unknown.join(', ')})`);
  if (!/^[0-9a-f]{64}$/.test(record['digest'] as string)) return malformed('the grant digest is not a sha256 hex digest');
  if (!/^[0-9a-f]{16}$/.test(record['keyId'] as string)) return malformed('the grant key id is not 16 hex characters');
  if (parseRfc3339(record['issuedAt']) === null) return malformed(`the grant issue time ${JSON.stringify(record['issuedAt'])} is not an RFC 3339 date-time`);
  if (parseRfc3339(record['expiresAt']) === null) return malformed(`the grant expiry ${JSON.stringify(record['expiresAt'])} is not an RFC 3339 date-time`);
  return null;
}

/**
 * Null when the grant authorizes exactly this request now; otherwise why not. Checks, in order:
 * shape, signing key, signature, run and step, action digest, then time, so nothing about the
 * action is compared before the grant is known to come from policy.
 */
export function checkGrant(publicKey: KeyObject | string, grant: SignedGrant, request: GrantedRequest, now: Date): GrantProblem | null {
  const shape = shapeProblem(grant);
  if (shape) return shape;

  const trusted = loadPublicKey(publicKey);
  const trustedKeyId = keyIdOf(trusted);
  if (grant.keyId !== trustedKeyId) {
    return {
      code: 'grant_key_unknown',
      message: `the grant was signed with key ${grant.keyId}, not with the policy signing key this gateway trusts (${trustedKeyId})`,
    };
  }
  if (!verify(trusted, signedPayload(grant), grant.signature)) {
    return { code: 'grant_signature_invalid', message: 'the grant signature does not verify; it was not issued by the policy service, or it was altered' };
  }

  if (grant.runId !== request.runId || grant.stepId !== request.stepId) {
    return {
      code: 'grant_wrong_run',
      message: `the grant was issued for step ${grant.stepId} of run ${grant.runId}, not for step ${request.stepId} of run ${request.runId}`,
    };
  }

  const digest = actionDigest({ agentId: request.agentId, agentVersion: request.agentVersion, tool: request.tool, arguments: request.arguments, policyVersion: grant.policyVersion });
  if (grant.agentId !== request.agentId || grant.agentVersion !== request.agentVersion || digest !== grant.digest) {
    return { code: 'grant_digest_mismatch', message: 'the grant was issued for a different action: the agent, its version, the tool or the arguments differ' };
  }

  const nowMs = now.getTime();
  const issuedAt = parseRfc3339(grant.issuedAt) as number;
  const expiresAt = parseRfc3339(grant.expiresAt) as number;
  if (nowMs >= expiresAt) {
    return { code: 'grant_expired', message: `the grant expired at ${grant.expiresAt}` };
  }
  if (issuedAt - nowMs > GRANT_MAX_CLOCK_SKEW_SECONDS * 1000) {
    return {
      code: 'grant_not_yet_valid',
      message: `the grant was issued at ${grant.issuedAt}, more than ${GRANT_MAX_CLOCK_SKEW_SECONDS} seconds ahead of this gateway's clock (${now.toISOString()}); the clocks of policy and the gateway disagree`,
    };
  }
  return null;
}

/** The action a reviewer approves: the grant's action without the policy version, which may change while the item waits. */
export type ReviewedAction = Omit<ExactAction, 'policyVersion'>;

/** sha256 hex over the RFC 8785 canonical JSON of the reviewed action. Approvals bind to it: approving `amount: 1` never approves `amount: 82000`. */
export function approvalDigest(action: ReviewedAction): string {
  const canonical = canonicalize({ agentId: action.agentId, agentVersion: action.agentVersion ?? null, tool: action.tool, arguments: action.arguments });
  if (canonical === undefined) throw new Error('action cannot be canonicalized');
  return createHash('sha256').update(canonical).digest('hex');
}

/** A reviewer's approval of one action, as the orchestrator that authenticated the reviewer attests it. */
export interface ApprovalAttestationFields {
  approvalId: string;
  digest: string;
  reviewer: { id: string; name?: string; groups: string[] };
  requester: string;
  decidedAt: string;
}

const ATTESTATION_CONTEXT = 'govmesh-approval-v1';

function attestationPayload(a: ApprovalAttestationFields): string {
  return canonicalize({ context: ATTESTATION_CONTEXT, approvalId: a.approvalId, digest: a.digest, reviewer: { id: a.reviewer.id, name: a.reviewer.name ?? null, groups: [...a.reviewer.groups].sort() }, requester: a.requester, decidedAt: a.decidedAt }) as string;
}

/** Signs an approval with the orchestrator's attestation key (the ingress key); domain-separated from intent attestations. */
export function signApproval(privateKey: KeyObject | string, attestation: ApprovalAttestationFields): string {
  return sign(privateKey, attestationPayload(attestation));
}

export function verifyApproval(publicKey: KeyObject | string, attestation: ApprovalAttestationFields & { signature: string }): boolean {
  try {
    return verify(publicKey, attestationPayload(attestation), attestation.signature);
  } catch {
    return false;
  }
}

/**
 * A read the verifier asks of the tool gateway under its own identity: one check of one
 * verification, signed with the verifier's Ed25519 key (the gateway holds only its public key).
 */
export interface VerificationReadFields {
  runId: string;
  verificationId: string;
  check: number;
  tool: string;
  arguments: Record<string, unknown>;
  requestedAt: string;
}

export interface SignedVerificationRead extends VerificationReadFields {
  keyId: string;
  signature: string;
}

const VERIFICATION_READ_CONTEXT = 'govmesh-verification-read-v1';
/** How old a verification read may be when the gateway receives it. */
export const VERIFICATION_READ_MAX_AGE_SECONDS = 300;

function verificationReadPayload(r: VerificationReadFields & { keyId: string }): string {
  const canonical = canonicalize({ context: VERIFICATION_READ_CONTEXT, runId: r.runId, verificationId: r.verificationId, check: r.check, tool: r.tool, arguments: r.arguments, requestedAt: r.requestedAt, keyId: r.keyId });
  if (canonical === undefined) throw new Error('verification read cannot be canonicalized');
  return canonical;
}

/** Signs a verification read with the verifier's key; domain-separated from grants and approvals. */
export function signVerificationRead(privateKey: KeyObject | string, fields: VerificationReadFields): SignedVerificationRead {
  const key = loadPrivateKey(privateKey);
  const keyId = keyIdOf(key);
  return { ...fields, keyId, signature: sign(key, verificationReadPayload({ ...fields, keyId })) };
}

/**
 * The gateway's answer to one verification read, signed with the gateway's Ed25519 key (the
 * verifier holds only its public key): bound to the run, the verification, the check, the tool
 * and what the system of record answered.
 */
export interface VerificationAnswerFields {
  runId: string;
  verificationId: string;
  check: number;
  tool: string;
  executionId: string;
  status: string;
  output?: Record<string, unknown>;
  reasons: ReadonlyArray<{ code: string; message: string }>;
}

export interface SignedVerificationAnswer extends VerificationAnswerFields {
  keyId: string;
  signature: string;
}

const VERIFICATION_ANSWER_CONTEXT = 'govmesh-verification-answer-v1';

function verificationAnswerPayload(a: VerificationAnswerFields & { keyId: string }): string {
  const canonical = canonicalize({
    context: VERIFICATION_ANSWER_CONTEXT,
    runId: a.runId,
    verificationId: a.verificationId,
    check: a.check,
    tool: a.tool,
    executionId: a.executionId,
    status: a.status,
    output: a.output ?? null,
    reasons: a.reasons.map((r) => ({ code: r.code, message: r.message })),
    keyId: a.keyId,
  });
  if (canonical === undefined) throw new Error('verification answer cannot be canonicalized');
  return canonical;
}

/** Signs the gateway's answer to a verification read; domain-separated from reads, grants and approvals. */
export function signVerificationAnswer<T extends VerificationAnswerFields>(privateKey: KeyObject | string, fields: T): T & { keyId: string; signature: string } {
  const key = loadPrivateKey(privateKey);
  const keyId = keyIdOf(key);
  return { ...fields, keyId, signature: sign(key, verificationAnswerPayload({ ...fields, keyId })) };
}

/** Null when the answer was signed by the gateway key the verifier trusts; otherwise why it is refused. */
export function checkVerificationAnswer(publicKey: KeyObject | string, answer: SignedVerificationAnswer): { code: string; message: string } | null {
  const trusted = loadPublicKey(publicKey);
  const trustedKeyId = keyIdOf(trusted);
  if (answer.keyId !== trustedKeyId) return { code: 'gateway_key_unknown', message: `the answer was signed with key ${answer.keyId}, not with the gateway key this verifier trusts (${trustedKeyId})` };
  let valid = false;
  try {
    valid = verify(trusted, verificationAnswerPayload(answer), answer.signature);
  } catch {
    valid = false;
  }
  return valid ? null : { code: 'gateway_signature_invalid', message: 'the answer signature does not verify; it was not signed by the tool gateway, or it was altered' };
}

/** Null when the read was signed by the verifier's key and is fresh; otherwise why it is refused. */
export function checkVerificationRead(publicKey: KeyObject | string, read: SignedVerificationRead, now: Date): { code: string; message: string } | null {
  const trusted = loadPublicKey(publicKey);
  const trustedKeyId = keyIdOf(trusted);
  if (read.keyId !== trustedKeyId) return { code: 'verifier_key_unknown', message: `the read was signed with key ${read.keyId}, not with the verifier key this gateway trusts (${trustedKeyId})` };
  let valid = false;
  try {
    valid = verify(trusted, verificationReadPayload(read), read.signature);
  } catch {
    valid = false;
  }
  if (!valid) return { code: 'verifier_signature_invalid', message: 'the read signature does not verify; it was not signed by the verifier, or it was altered' };
  const at = parseRfc3339(read.requestedAt);
  if (at === null) return { code: 'verifier_read_malformed', message: 'the read has no valid request time' };
  if (now.getTime() - at > VERIFICATION_READ_MAX_AGE_SECONDS * 1000) return { code: 'verifier_read_stale', message: `the read was requested at ${read.requestedAt}, more than ${VERIFICATION_READ_MAX_AGE_SECONDS} seconds ago` };
  if (at - now.getTime() > GRANT_MAX_CLOCK_SKEW_SECONDS * 1000) return { code: 'verifier_read_stale', message: `the read was requested at ${read.requestedAt}, ahead of this gateway's clock` };
  return null;
}
