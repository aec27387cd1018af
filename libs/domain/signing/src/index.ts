/**
 * Ed25519 signing for govmesh: key encodings that interoperate with Python's `cryptography`,
 * signed intents over their RFC 8785 canonical form, intent freshness, and API key format.
 * Pure: node:crypto and `canonicalize` only. See docs/signing.md.
 */
export {
  KeyFormatError,
  decodeBase64Url,
  encodePublicKey,
  generateKeyPair,
  keyIdOf,
  loadPrivateKey,
  loadPublicKey,
  publicKeyOf,
  sign,
  verify,
  type GeneratedKeyPair,
  type PrivateKeyInput,
  type PublicKeyInput,
} from './keys';
export {
  DEFAULT_INTENT_MAX_AGE_SECONDS,
  DEFAULT_INTENT_MAX_SKEW_SECONDS,
  INTENT_SIGNATURE_ATTRIBUTE,
  INTENT_SIGNATURE_HEADER,
  INTENT_SIGNER_ATTRIBUTE,
  INTENT_SIGNERS,
  canonicalIntent,
  checkIntentFreshness,
  parseRfc3339,
  signIntent,
  verifyIntentSignature,
  type IntentSigner,
  type IntentTimeProblem,
  type SignableIntent,
} from './intents';
export { generateApiKey, parseApiKey, type ApiKey } from './api-keys';
