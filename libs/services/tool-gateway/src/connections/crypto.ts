import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { inspect } from 'node:util';
import { parseConnectionKeys, type ConnectionMasterKey } from '@govmesh/nest-runtime';

/**
 * Envelope encryption of connection secrets with AES-256-GCM (node:crypto). Each secret is
 * encrypted with its own random data key, bound to its connection id as additional authenticated
 * data (a ciphertext copied to another row does not decrypt); the data key is wrapped by a master
 * key from a `KeyProvider`, whose id is stored with the record so that master keys can rotate.
 */

const ALGORITHM = 'aes-256-gcm';
const IV_BYTES = 12;
const TAG_BYTES = 16;
const KEY_BYTES = 32;

/** Why a secret could not be read: the codes `credentialsFor` refuses with. */
export type CredentialFailureCode = 'connection_key_unknown' | 'connection_secret_unreadable';

export class CredentialCryptoError extends Error {
  constructor(
    readonly code: CredentialFailureCode,
    message: string,
  ) {
    super(message);
    this.name = 'CredentialCryptoError';
  }
}

/**
 * Holds the master keys that wrap data keys. `EnvKeyProvider` keeps them in memory; a KMS or HSM
 * provider implements the same three members (the data key never leaves `wrap`/`unwrap` in clear
 * text other than to the caller).
 */
export interface KeyProvider {
  /** The key id new data keys are wrapped under. */
  readonly currentKeyId: string;
  wrap(keyId: string, dataKey: Buffer): Promise<Buffer>;
  /** Throws `CredentialCryptoError` `connection_key_unknown` for a key id it does not hold. */
  unwrap(keyId: string, wrapped: Buffer): Promise<Buffer>;
}

/** What is stored per record: nothing here is secret without the master key. Binary fields are base64. */
export interface EncryptedSecret {
  keyId: string;
  wrappedKey: string;
  iv: string;
  tag: string;
  ciphertext: string;
}

/**
 * A secret in memory: `reveal()` is the only way to its value. It prints, logs and serialises as
 * `[redacted]` (toString, toJSON, util.inspect), and its value is a private field, so spreading
 * or enumerating it shows nothing either.
 */
export class Secret {
  readonly #value: string;

  constructor(value: string) {
    this.#value = value;
  }

  reveal(): string {
    return this.#value;
  }

  toString(): string {
    return '[redacted]';
  }

  toJSON(): string {
    return '[redacted]';
  }

  [inspect.custom](): string {
    return 'Secret([redacted])';
  }
}

function seal(key: Buffer, plaintext: Buffer, aad: Buffer): { iv: Buffer; tag: Buffer; ciphertext: Buffer } {
  const iv = randomBytes(IV_BYTES);
  const cipher = createCipheriv(ALGORITHM, key, iv, { authTagLength: TAG_BYTES });
  cipher.setAAD(aad);
  const ciphertext = Buffer.concat([cipher.update(plaintext), cipher.final()]);
  return { iv, tag: cipher.getAuthTag(), ciphertext };
}

/** Throws (without saying more than "authentication failed") when anything was changed. */
function unseal(key: Buffer, iv: Buffer, tag: Buffer, ciphertext: Buffer, aad: Buffer): Buffer {
  if (iv.length !== IV_BYTES || tag.length !== TAG_BYTES) throw new Error('bad iv or tag length');
  const decipher = createDecipheriv(ALGORITHM, key, iv, { authTagLength: TAG_BYTES });
  decipher.setAAD(aad);
  decipher.setAuthTag(tag);
  return Buffer.concat([decipher.update(ciphertext), decipher.final()]);
}

const secretAad = (connectionId: string) => Buffer.from(`govmesh:connection-secret:${connectionId}`, 'utf8');
const wrapAad = (keyId: string) => Buffer.from(`govmesh:connection-data-key:${keyId}`, 'utf8');

/** Master keys held in memory, from GOVMESH_CONNECTION_KEYS (or generated for the embedded mode). */
export class EnvKeyProvider implements KeyProvider {
  readonly currentKeyId: string;
  readonly #keys: Map<string, Buffer>;

  constructor(keys: readonly ConnectionMasterKey[]) {
    if (keys.length === 0) throw new Error('at least one master key is needed');
    for (const k of keys) if (k.key.length !== KEY_BYTES) throw new Error(`master key "${k.id}" must be ${KEY_BYTES} bytes`);
    this.currentKeyId = keys[0].id;
    this.#keys = new Map(keys.map((k) => [k.id, Buffer.from(k.key)]));
  }

  /** From the text of GOVMESH_CONNECTION_KEYS; the error names the variable, never key material. */
  static fromText(text: string, variable = 'GOVMESH_CONNECTION_KEYS'): EnvKeyProvider {
    try {
      return new EnvKeyProvider(parseConnectionKeys(text));
    } catch (err) {
      throw new Error(`Config validation error: "${variable}" failed custom validation because ${(err as Error).message}`);
    }
  }

  get keyIds(): string[] {
    return [...this.#keys.keys()];
  }

  async wrap(keyId: string, dataKey: Buffer): Promise<Buffer> {
    const { iv, tag, ciphertext } = seal(this.master(keyId), dataKey, wrapAad(keyId));
    return Buffer.concat([iv, tag, ciphertext]);
  }

  async unwrap(keyId: string, wrapped: Buffer): Promise<Buffer> {
    const key = this.master(keyId);
    try {
      return unseal(key, wrapped.subarray(0, IV_BYTES), wrapped.subarray(IV_BYTES, IV_BYTES + TAG_BYTES), wrapped.subarray(IV_BYTES + TAG_BYTES), wrapAad(keyId));
    } catch {
      throw new CredentialCryptoError('connection_secret_unreadable', `the data key wrapped under master key "${keyId}" does not unwrap (altered, or wrapped under another key of that id)`);
    }
  }

  private master(keyId: string): Buffer {
    const key = this.#keys.get(keyId);
    if (!key) throw new CredentialCryptoError('connection_key_unknown', `master key "${keyId}" is not configured (GOVMESH_CONNECTION_KEYS)`);
    return key;
  }

  [inspect.custom](): string {
    return `EnvKeyProvider(current: ${this.currentKeyId}, keys: ${this.keyIds.join(', ')})`;
  }

  toJSON(): Record<string, unknown> {
    return { currentKeyId: this.currentKeyId, keyIds: this.keyIds };
  }
}

/** Encrypts a connection's secret under a fresh data key, wrapped under the current master key. */
export async function encryptSecret(provider: KeyProvider, connectionId: string, secret: string): Promise<EncryptedSecret> {
  const dataKey = randomBytes(KEY_BYTES);
  try {
    const { iv, tag, ciphertext } = seal(dataKey, Buffer.from(secret, 'utf8'), secretAad(connectionId));
    const keyId = provider.currentKeyId;
    const wrapped = await provider.wrap(keyId, dataKey);
    return { keyId, wrappedKey: wrapped.toString('base64'), iv: iv.toString('base64'), tag: tag.toString('base64'), ciphertext: ciphertext.toString('base64') };
  } finally {
    dataKey.fill(0);
  }
}

/** Decrypts a connection's secret; refuses a record altered in any part, or copied from another connection. */
export async function decryptSecret(provider: KeyProvider, connectionId: string, record: EncryptedSecret): Promise<Secret> {
  const dataKey = await provider.unwrap(record.keyId, Buffer.from(record.wrappedKey, 'base64'));
  try {
    const plaintext = unseal(dataKey, Buffer.from(record.iv, 'base64'), Buffer.from(record.tag, 'base64'), Buffer.from(record.ciphertext, 'base64'), secretAad(connectionId));
    return new Secret(plaintext.toString('utf8'));
  } catch {
    throw new CredentialCryptoError('connection_secret_unreadable', `the secret of connection "${connectionId}" does not decrypt: it was altered or belongs to another connection`);
  } finally {
    dataKey.fill(0);
  }
}

/**
 * Re-wraps a record's data key under the provider's current master key (after a master key
 * rotation); the secret's ciphertext does not change. Returns the record unchanged when it is
 * already under the current key.
 */
export async function rewrapSecret(provider: KeyProvider, record: EncryptedSecret): Promise<EncryptedSecret> {
  if (record.keyId === provider.currentKeyId) return record;
  const dataKey = await provider.unwrap(record.keyId, Buffer.from(record.wrappedKey, 'base64'));
  try {
    const wrapped = await provider.wrap(provider.currentKeyId, dataKey);
    return { ...record, keyId: provider.currentKeyId, wrappedKey: wrapped.toString('base64') };
  } finally {
    dataKey.fill(0);
  }
}
