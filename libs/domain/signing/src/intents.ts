import canonicalize from 'canonicalize';
import { sign, verify, type PrivateKeyInput, type PublicKeyInput } from './keys';

/**
 * Signed intents. An agent signs the RFC 8785 (JCS) canonical JSON of its intent, which is the
 * whole CloudEvents `data` of `govmesh.intent.submitted.v1`, and sends the signature in the
 * envelope's `govmeshsig` extension attribute (or, over HTTP, the `govmesh-signature` header).
 */

/** The CloudEvents `data` of `govmesh.intent.submitted.v1`, as signed. */
export interface SignableIntent {
  intentId: string;
  agentId: string;
  agentVersion: string;
  task: string;
  input?: Record<string, unknown>;
  submittedAt: string;
}

/** CloudEvents extension attribute: the base64url Ed25519 signature over the canonical intent. */
export const INTENT_SIGNATURE_ATTRIBUTE = 'govmeshsig';
/** CloudEvents extension attribute: who signed (`agent` or `ingress`). */
export const INTENT_SIGNER_ATTRIBUTE = 'govmeshsigner';
/** HTTP header on `POST /v1/intents` carrying the agent's own signature. */
export const INTENT_SIGNATURE_HEADER = 'govmesh-signature';

/**
 * `agent`: signed with the key registered on the agent version. `ingress`: the HTTP ingress
 * authenticated the agent's credential and attests to the intent with the ingress key.
 */
export type IntentSigner = 'agent' | 'ingress';
export const INTENT_SIGNERS: readonly IntentSigner[] = ['agent', 'ingress'];

/** Default of GOVMESH_INTENT_MAX_AGE_SECONDS. */
export const DEFAULT_INTENT_MAX_AGE_SECONDS = 300;
/** How far in the future `submittedAt` may be (clock skew), by default. */
export const DEFAULT_INTENT_MAX_SKEW_SECONDS = 30;

/**
 * The exact text that is signed: RFC 8785 canonical JSON of the intent (keys sorted by UTF-16
 * code units, no whitespace, ECMAScript number formatting). Every property of the object is
 * covered; properties whose value is `undefined` are absent, as in JSON.
 */
export function canonicalIntent(intent: SignableIntent | Record<string, unknown>): string {
  if (intent === null || typeof intent !== 'object' || Array.isArray(intent)) throw new TypeError('an intent must be a JSON object');
  const canonical = canonicalize(intent);
  if (canonical === undefined) throw new TypeError('the intent cannot be written as canonical JSON');
  return canonical;
}

/** base64url Ed25519 signature over `canonicalIntent(intent)`. */
export function signIntent(intent: SignableIntent | Record<string, unknown>, privateKey: PrivateKeyInput): string {
  return sign(privateKey, canonicalIntent(intent));
}

/** True only when the signature is that public key's over this intent's canonical form. Never throws. */
export function verifyIntentSignature(intent: SignableIntent | Record<string, unknown>, signature: string, publicKey: PublicKeyInput): boolean {
  let canonical: string;
  try {
    canonical = canonicalIntent(intent);
  } catch {
    return false;
  }
  return verify(publicKey, canonical, signature);
}

export interface IntentTimeProblem {
  code: 'intent_stale' | 'intent_from_future' | 'intent_timestamp_invalid';
  message: string;
}

/** RFC 3339 date-time with a zone offset, e.g. 2026-11-21T09:30:00.412Z or 2026-11-21T09:30:00.412123+00:00. */
const RFC3339 = /^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(\.\d{1,9})?([Zz]|[+-]\d{2}:\d{2})$/;

/** Milliseconds since the epoch of an RFC 3339 date-time with a zone offset; null if it is not one. */
export function parseRfc3339(text: unknown): number | null {
  if (typeof text !== 'string') return null;
  const m = RFC3339.exec(text);
  if (!m) return null;
  const [, year, month, day, hour, minute, second, fraction = '', zone] = m;
  const [mo, d, h, mi, s] = [month, day, hour, minute, second].map(Number);
  if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || s > 59) return null;
  const millis = fraction ? Math.floor(Number(`0${fraction}`) * 1000) : 0;
  const utc = Date.UTC(Number(year), mo - 1, d, h, mi, s, millis);
  // Rejects days that do not exist (2026-02-30).
  if (new Date(utc).getUTCDate() !== d) return null;
  let offsetMinutes = 0;
  if (zone !== 'Z' && zone !== 'z') {
    const sign = zone.startsWith('-') ? -1 : 1;
    const [zh, zm] = zone.slice(1).split(':').map(Number);
    if (zh > 23 || zm > 59) return null;
    offsetMinutes = sign * (zh * 60 + zm);
  }
  return utc - offsetMinutes * 60_000;
}

function seconds(n: number): string {
  return n === 1 ? '1 second' : `${n} seconds`;
}

/**
 * Null when `submittedAt` is recent enough: at most `maxAgeSeconds` old and at most
 * `maxSkewSeconds` ahead of `now`. Otherwise why not.
 */
export function checkIntentFreshness(submittedAt: string, now: Date, maxAgeSeconds: number, maxSkewSeconds = DEFAULT_INTENT_MAX_SKEW_SECONDS): IntentTimeProblem | null {
  const at = parseRfc3339(submittedAt);
  if (at === null) {
    return {
      code: 'intent_timestamp_invalid',
      message: `submittedAt ${JSON.stringify(submittedAt ?? null)} is not an RFC 3339 date-time with a zone offset (e.g. 2026-11-21T09:30:00.412Z)`,
    };
  }
  const ageMs = now.getTime() - at;
  if (ageMs > maxAgeSeconds * 1000) {
    return {
      code: 'intent_stale',
      message: `the intent was submitted at ${submittedAt}, ${seconds(Math.floor(ageMs / 1000))} ago; intents older than ${seconds(maxAgeSeconds)} are refused`,
    };
  }
  if (-ageMs > maxSkewSeconds * 1000) {
    return {
      code: 'intent_from_future',
      message: `the intent claims to be submitted at ${submittedAt}, ${seconds(Math.ceil(-ageMs / 1000))} in the future; more than ${seconds(maxSkewSeconds)} of clock skew is refused`,
    };
  }
  return null;
}
