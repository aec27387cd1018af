import { randomBytes } from 'node:crypto';

/**
 * API keys: `gm_<id>_<secret>`, where the id is 12 lowercase letters or digits (public: it names
 * the key in logs and lets the server find its hash) and the secret is base64url (no padding) of
 * 32 random bytes (43 characters). Only a hash of the secret is ever stored.
 */
export interface ApiKey {
  id: string;
  secret: string;
  /** The whole key as the holder sends it: `gm_<id>_<secret>`. */
  key: string;
}

const ID_ALPHABET = 'abcdefghijklmnopqrstuvwxyz0123456789';
const ID_LENGTH = 12;
const API_KEY = /^gm_([a-z0-9]{12})_([A-Za-z0-9_-]{43})$/;

function randomId(): string {
  let id = '';
  while (id.length < ID_LENGTH) {
    for (const byte of randomBytes(ID_LENGTH * 2)) {
      // 252 = 7 * 36: rejecting the rest keeps every character equally likely.
      if (byte < 252 && id.length < ID_LENGTH) id += ID_ALPHABET[byte % ID_ALPHABET.length];
    }
  }
  return id;
}

export function generateApiKey(): ApiKey {
  const id = randomId();
  const secret = randomBytes(32).toString('base64url');
  return { id, secret, key: `gm_${id}_${secret}` };
}

/** The id and secret of a well-formed API key (surrounding whitespace ignored); null for anything else. */
export function parseApiKey(text: string): { id: string; secret: string } | null {
  if (typeof text !== 'string') return null;
  const m = API_KEY.exec(text.trim());
  if (!m) return null;
  // The secret must be the canonical encoding of 32 bytes (its last character carries 2 unused bits).
  if (Buffer.from(m[2], 'base64url').toString('base64url') !== m[2]) return null;
  return { id: m[1], secret: m[2] };
}
