import canonicalize from 'canonicalize';
import { encodePublicKey, keyIdOf, sign, verify, type PrivateKeyInput, type PublicKeyInput } from '@govmesh/signing';
import { chainHash, payloadDigest, type StoredAuditRecord } from './chain';
import { checkpointProblem, type SignedCheckpoint } from './checkpoint';
import { verifyInclusion } from './merkle';

/**
 * An evidence bundle: every ledger record of one run with the inclusion proof that ties it to a
 * signed checkpoint, a summary an auditor reads first (intent and its signature, decisions with
 * their policy version and policies, approvals with the reviewer and the digest approved,
 * executions, verification, model calls with cost, the result), and telemetry's signature over
 * the whole bundle. It is exported as canonical JSON (RFC 8785), so the file's bytes are exactly
 * what was signed: `verifyEvidenceBundle` needs the file and the audit public key, nothing else.
 */
export const EVIDENCE_FORMAT = 'govmesh.evidence.v1';

export interface EvidenceRecord extends StoredAuditRecord {
  proof: { checkpoint: number; index: number; path: string[] };
}

export interface EvidenceBundle {
  format: typeof EVIDENCE_FORMAT;
  runId: string;
  exportedAt: string;
  key: { keyId: string; publicKey: string };
  summary: EvidenceSummary;
  records: EvidenceRecord[];
  checkpoints: SignedCheckpoint[];
  signature?: string;
}

type Json = Record<string, unknown>;

export interface EvidenceSummary {
  intent: Json | null;
  decisions: Json[];
  approvals: Json[];
  executions: Json[];
  verifications: Json[];
  modelCalls: Json[];
  result: Json | null;
}

const pick = (o: Json, keys: string[]): Json => Object.fromEntries(keys.filter((k) => o[k] !== undefined).map((k) => [k, o[k]]));
const codes = (reasons: unknown) => (Array.isArray(reasons) ? reasons.map((r) => (r && typeof r === 'object' ? (r as Json)['code'] : r)) : undefined);

/** What an auditor reads first, derived from the records alone (the verifier derives it again). */
export function summarizeEvidence(records: readonly StoredAuditRecord[]): EvidenceSummary {
  const summary: EvidenceSummary = { intent: null, decisions: [], approvals: [], executions: [], verifications: [], modelCalls: [], result: null };
  for (const r of records) {
    const event = (r.payload ?? {}) as Json;
    const data = (event['data'] ?? {}) as Json;
    const at = { seq: r.seq, time: r.occurredAt };
    switch (r.type) {
      case 'govmesh.intent.submitted.v1':
        summary.intent ??= { ...at, ...pick(data, ['intentId', 'agentId', 'agentVersion', 'task', 'workflow', 'submittedAt']), signature: event['govmeshsig'] ?? null, signer: event['govmeshsigner'] ?? null, source: event['source'] ?? null };
        break;
      case 'govmesh.intent.decided.v1':
      case 'govmesh.action.decided.v1':
        summary.decisions.push({ ...at, type: r.type, ...pick(data, ['stepId', 'effect', 'policyVersion', 'policies', 'approvers', 'effectiveTier', 'tier']), reasons: codes(data['reasons']), grant: data['grant'] ? pick(data['grant'] as Json, ['grantId', 'digest', 'keyId', 'expiresAt']) : undefined });
        break;
      case 'govmesh.approval.requested.v1':
      case 'govmesh.approval.decided.v1':
        summary.approvals.push({ ...at, type: r.type, ...pick(data, ['stepId', 'reviewId', 'kind', 'decision', 'reviewer', 'digest', 'level', 'groups', 'reason']) });
        break;
      case 'govmesh.tool.executed.v1':
        summary.executions.push({ ...at, ...pick(data, ['stepId', 'tool', 'executionId', 'status', 'retryable']), reasons: codes(data['reasons']) });
        break;
      case 'govmesh.verification.completed.v1':
        summary.verifications.push({ ...at, ...pick(data, ['stepId', 'verdict', 'verificationId']), reasons: codes(data['reasons']) });
        break;
      case 'govmesh.model.completed.v1':
        summary.modelCalls.push({ ...at, ...pick(data, ['stepId', 'model', 'provider', 'usage', 'cost', 'latencyMs', 'confidence', 'escalatedFrom']) });
        break;
      case 'govmesh.run.completed.v1':
        summary.result = { ...at, ...pick(data, ['outcome', 'status']), reasons: codes(data['reasons']) };
        break;
      default:
        break;
    }
  }
  return JSON.parse(JSON.stringify(summary)) as EvidenceSummary;
}

/** The canonical bytes of a bundle without its signature: what telemetry signs. */
function signedBytes(bundle: EvidenceBundle): string {
  const { signature: _signature, ...rest } = bundle;
  return canonicalize(rest) ?? '';
}

/** Signs a bundle and returns the file's text: canonical JSON and a newline. */
export function sealEvidenceBundle(bundle: Omit<EvidenceBundle, 'signature'>, privateKey: PrivateKeyInput): string {
  const signature = sign(privateKey, signedBytes(bundle as EvidenceBundle));
  return `${canonicalize({ ...bundle, signature })}\n`;
}

export type EvidenceVerdict =
  | { valid: true; runId: string; records: number; checkpoints: number; keyId: string; summary: EvidenceSummary }
  | { valid: false; problems: string[] };

/**
 * Checks an exported bundle offline: the file is the canonical form of what it holds, the
 * bundle's signature verifies with the given key, every checkpoint is signed with it, and every
 * record's payload digest, hash and inclusion proof lead to its checkpoint's signed Merkle root;
 * the summary is what the records say. Lists every problem found; never throws.
 */
export function verifyEvidenceBundle(text: string, publicKey: PublicKeyInput): EvidenceVerdict {
  try {
    return checkBundle(text, publicKey);
  } catch (err) {
    return { valid: false, problems: [`the bundle is malformed: ${(err as Error).message}`] };
  }
}

function checkBundle(text: string, publicKey: PublicKeyInput): EvidenceVerdict {
  const problems: string[] = [];
  let bundle: EvidenceBundle;
  try {
    bundle = JSON.parse(text) as EvidenceBundle;
  } catch (err) {
    return { valid: false, problems: [`the file is not JSON: ${(err as Error).message}`] };
  }
  if (!bundle || typeof bundle !== 'object' || Array.isArray(bundle)) return { valid: false, problems: ['the file is not an evidence bundle'] };
  if (text !== `${canonicalize(bundle)}\n` && text !== canonicalize(bundle)) problems.push('the file is not in the canonical form it was exported in: it was changed after export');
  if (bundle.format !== EVIDENCE_FORMAT) problems.push(`the format is not ${EVIDENCE_FORMAT}`);
  let keyId: string;
  try {
    keyId = keyIdOf(publicKey);
    if (bundle.key?.keyId !== keyId || bundle.key?.publicKey !== encodePublicKey(publicKey)) problems.push(`the bundle names key ${String(bundle.key?.keyId)}, not the key given (${keyId})`);
  } catch (err) {
    return { valid: false, problems: [`the key given is not an Ed25519 public key: ${(err as Error).message}`] };
  }
  if (typeof bundle.signature !== 'string' || !verify(publicKey, signedBytes(bundle), bundle.signature)) problems.push('the bundle signature does not verify with the key given');
  const checkpoints = new Map<number, SignedCheckpoint>();
  for (const cp of Array.isArray(bundle.checkpoints) ? bundle.checkpoints : []) {
    const problem = checkpointProblem(cp, publicKey);
    if (problem) problems.push(`checkpoint ${String(cp?.statement?.seq)}: ${problem}`);
    else checkpoints.set(cp.statement.seq, cp);
  }
  const records = Array.isArray(bundle.records) ? bundle.records : [];
  if (records.length === 0) problems.push('the bundle holds no records');
  let previous = 0;
  for (const r of records) {
    const where = `record ${String(r?.seq)}`;
    if (!r || typeof r !== 'object' || !Number.isSafeInteger(r.seq) || typeof r.prevHash !== 'string' || typeof r.hash !== 'string') {
      problems.push(`${where}: not a ledger record`);
      continue;
    }
    if (r.seq <= previous) problems.push(`${where}: records are not in ledger order`);
    previous = r.seq;
    if (r.runId !== bundle.runId) problems.push(`${where}: belongs to run ${String(r.runId)}, not ${String(bundle.runId)}`);
    const { proof, payload, prevHash, hash, payloadDigest: digest, ...entry } = r;
    if (payloadDigest(payload) !== digest) problems.push(`${where}: the payload does not match its digest`);
    if (chainHash(prevHash, { seq: entry.seq, eventId: entry.eventId, type: entry.type, runId: entry.runId, topic: entry.topic, occurredAt: entry.occurredAt, payloadDigest: digest }) !== hash) problems.push(`${where}: the record does not match its hash`);
    const cp = proof ? checkpoints.get(proof.checkpoint) : undefined;
    if (!cp) {
      problems.push(`${where}: no signed checkpoint for its proof`);
      continue;
    }
    const { fromSeq, seq: toSeq, root } = cp.statement;
    if (r.seq < fromSeq || r.seq > toSeq || proof.index !== r.seq - fromSeq || !verifyInclusion(hash, proof.index, toSeq - fromSeq + 1, proof.path, root)) problems.push(`${where}: its inclusion proof does not lead to checkpoint ${toSeq}'s signed root`);
  }
  if (canonicalize(summarizeEvidence(records)) !== canonicalize(bundle.summary)) problems.push('the summary is not what the records say');
  if (problems.length > 0) return { valid: false, problems };
  return { valid: true, runId: bundle.runId, records: records.length, checkpoints: checkpoints.size, keyId, summary: bundle.summary };
}
