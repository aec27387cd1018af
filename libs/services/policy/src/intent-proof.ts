import type { KeyObject } from 'node:crypto';
import type { GovmeshEvent, IntentRefusalCode, Rejection } from '@govmesh/contracts';
import type { EventTypes } from '@govmesh/contracts';
import { checkIntentFreshness, INTENT_SIGNATURE_ATTRIBUTE, INTENT_SIGNER_ATTRIBUTE, verifyIntentSignature } from '@govmesh/signing';
import type { VersionKey } from './policy.repository';

type IntentEvent = GovmeshEvent<typeof EventTypes.IntentSubmitted>;

export interface ProofContext {
  /** The agent's current version, when it is registered. */
  currentVersion?: string;
  /** The key of the version the intent names (or the current one). */
  versionKey?: VersionKey;
  ingressKey: KeyObject;
  /** Policy decided an intent with this id before, or an earlier one in this batch. */
  seen: boolean;
  now: Date;
  maxAgeSeconds: number;
}

const refusal = (code: IntentRefusalCode, message: string): Rejection => ({ code, message });

/** The version whose key must have signed the intent: the one it names, else the agent's current one. */
export function signingVersion(event: IntentEvent, currentVersion: string | undefined): string | undefined {
  return event.data.agentVersion ?? currentVersion;
}

/**
 * Whether an intent proves who sent it, now, for the first time: signed (by its agent version's
 * registered, unrevoked key, or attested by the HTTP ingress that authenticated the agent), fresh
 * and never seen before. Null when it does; otherwise the refusal, with a reason.
 */
export function checkIntentProof(event: IntentEvent, ctx: ProofContext): Rejection | null {
  const extensions = event as unknown as Record<string, unknown>;
  const signature = extensions[INTENT_SIGNATURE_ATTRIBUTE];
  const signer = extensions[INTENT_SIGNER_ATTRIBUTE] ?? 'agent';
  const intent = event.data;
  if (typeof signature !== 'string') {
    return refusal('intent_unsigned', `intent ${intent.intentId} carries no ${INTENT_SIGNATURE_ATTRIBUTE}: intents must be signed by their agent's key (docs/signing.md)`);
  }
  if (signer === 'ingress') {
    if (!verifyIntentSignature(intent, signature, ctx.ingressKey)) {
      return refusal('intent_signature_invalid', `intent ${intent.intentId} claims the HTTP ingress attested it, but the signature does not verify with the ingress key`);
    }
  } else {
    const version = signingVersion(event, ctx.currentVersion);
    if (!version || !ctx.versionKey?.publicKey) {
      return refusal('intent_key_unknown', `agent "${intent.agentId}" has no registered key${version ? ` for version ${version}` : ''}; register one with POST /v1/agents/${intent.agentId}/versions`);
    }
    if (ctx.versionKey.keyStatus === 'revoked') {
      return refusal('intent_key_revoked', `the key of agent "${intent.agentId}" version ${version} was revoked`);
    }
    if (!verifyIntentSignature(intent, signature, ctx.versionKey.publicKey)) {
      return refusal('intent_signature_invalid', `the signature of intent ${intent.intentId} does not verify with the key of agent "${intent.agentId}" version ${version}`);
    }
  }
  if (!intent.submittedAt) return refusal('intent_timestamp_invalid', `intent ${intent.intentId} has no submittedAt; signed intents carry the time they were made`);
  const stale = checkIntentFreshness(intent.submittedAt, ctx.now, ctx.maxAgeSeconds);
  if (stale) return refusal(stale.code, stale.message);
  if (ctx.seen) return refusal('intent_replayed', `intent id ${intent.intentId} was decided before; an intent is accepted once`);
  return null;
}
