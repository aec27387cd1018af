import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, sign as cryptoSign, verify as cryptoVerify, KeyObject } from 'node:crypto';

/**
 * Ed25519 keys in the encodings govmesh exchanges with agents, operators and its own services.
 * Every encoding interoperates with Python's `cryptography` (and any JOSE library):
 *
 * - public key: base64url, no padding, of the raw 32 bytes (the JWK `x`), or an SPKI PEM;
 * - private key: a PKCS#8 PEM (`-----BEGIN PRIVATE KEY-----`), or base64url of the raw 32-byte
 *   seed (the JWK `d`).
 */

/** A key that cannot be read: the message says what was wrong and what is expected. */
export class KeyFormatError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'KeyFormatError';
  }
}

/** A key as text (any accepted encoding) or an already loaded `KeyObject`. */
export type PrivateKeyInput = string | KeyObject;
export type PublicKeyInput = string | KeyObject;

export interface GeneratedKeyPair {
  /** base64url (no padding) of the raw 32-byte public key. */
  publicKey: string;
  /** The private key as a PKCS#8 PEM. */
  privateKeyPem: string;
  /** The same private key as base64url of its raw 32-byte seed. */
  privateKeySeed: string;
}

// DER prefixes of an Ed25519 PKCS#8 private key (RFC 8410) and SPKI public key: the raw 32 bytes follow.
const PKCS8_ED25519_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex');
const SPKI_ED25519_PREFIX = Buffer.from('302a300506032b6570032100', 'hex');

const BASE64URL = /^[A-Za-z0-9_-]+$/;

/**
 * Strict base64url: only the url-safe alphabet, no padding, and the canonical encoding of the
 * bytes (so one value has one spelling). Null when the text is not that.
 */
export function decodeBase64Url(text: string): Buffer | null {
  if (!BASE64URL.test(text)) return null;
  const bytes = Buffer.from(text, 'base64url');
  return bytes.toString('base64url') === text ? bytes : null;
}

function describe(text: string): string {
  if (text.length === 0) return 'it is empty';
  const pem = /^-----BEGIN ([A-Z0-9 ]+)-----/.exec(text);
  if (pem) return `it is a PEM "${pem[1]}" block`;
  return `it is ${text.length} characters long`;
}

function keyTypeError(kind: 'private' | 'public', key: KeyObject): KeyFormatError {
  return new KeyFormatError(`the ${kind} key is a ${key.asymmetricKeyType ?? key.type} key; govmesh uses Ed25519 keys only`);
}

/**
 * Reads an Ed25519 private key: a PKCS#8 PEM or base64url of the raw 32-byte seed. Surrounding
 * whitespace is ignored. Anything else throws a `KeyFormatError`.
 */
export function loadPrivateKey(input: PrivateKeyInput): KeyObject {
  if (input instanceof KeyObject) {
    if (input.type !== 'private') throw new KeyFormatError(`expected a private key, got a ${input.type} key`);
    if (input.asymmetricKeyType !== 'ed25519') throw keyTypeError('private', input);
    return input;
  }
  if (typeof input !== 'string') throw new KeyFormatError('the private key must be text: a PKCS#8 PEM or base64url of the raw 32-byte seed');
  const text = input.trim();
  if (text.startsWith('-----BEGIN')) {
    if (text.startsWith('-----BEGIN ENCRYPTED PRIVATE KEY-----')) {
      throw new KeyFormatError('the private key PEM is encrypted; give an unencrypted PKCS#8 PEM ("-----BEGIN PRIVATE KEY-----")');
    }
    if (text.startsWith('-----BEGIN OPENSSH PRIVATE KEY-----')) {
      throw new KeyFormatError('the private key is in OpenSSH format; convert it to PKCS#8 (ssh-keygen -p -m PKCS8 -f <file>) or use `govmesh keygen`');
    }
    if (text.startsWith('-----BEGIN PUBLIC KEY-----')) {
      throw new KeyFormatError('this is a public key; a private key is needed here (PKCS#8 PEM or base64url seed)');
    }
    if (!text.startsWith('-----BEGIN PRIVATE KEY-----')) {
      throw new KeyFormatError(`the private key cannot be read: ${describe(text)}; expected a PKCS#8 PEM ("-----BEGIN PRIVATE KEY-----")`);
    }
    let key: KeyObject;
    try {
      key = createPrivateKey({ key: text, format: 'pem' });
    } catch (error) {
      throw new KeyFormatError(`the private key PEM cannot be read (${(error as Error).message})`);
    }
    if (key.asymmetricKeyType !== 'ed25519') throw keyTypeError('private', key);
    return key;
  }
  const seed = decodeBase64Url(text);
  if (!seed || seed.length !== 32) {
    throw new KeyFormatError(
      `the private key cannot be read: ${describe(text)}; expected a PKCS#8 PEM ("-----BEGIN PRIVATE KEY-----") or base64url (no padding) of the raw 32-byte Ed25519 seed (43 characters)`,
    );
  }
  return createPrivateKey({ key: Buffer.concat([PKCS8_ED25519_PREFIX, seed]), format: 'der', type: 'pkcs8' });
}

/**
 * Reads an Ed25519 public key: base64url of the raw 32 bytes or an SPKI PEM
 * (`-----BEGIN PUBLIC KEY-----`). Anything else throws a `KeyFormatError`.
 */
export function loadPublicKey(input: PublicKeyInput): KeyObject {
  if (input instanceof KeyObject) {
    const key = input.type === 'private' ? createPublicKey(input) : input;
    if (key.type !== 'public') throw new KeyFormatError(`expected a public key, got a ${key.type} key`);
    if (key.asymmetricKeyType !== 'ed25519') throw keyTypeError('public', key);
    return key;
  }
  if (typeof input !== 'string') throw new KeyFormatError('the public key must be text: base64url of the raw 32 bytes or an SPKI PEM');
  const text = input.trim();
  if (text.startsWith('-----BEGIN')) {
    if (!text.startsWith('-----BEGIN PUBLIC KEY-----')) {
      throw new KeyFormatError(`the public key cannot be read: ${describe(text)}; expected an SPKI PEM ("-----BEGIN PUBLIC KEY-----")`);
    }
    let key: KeyObject;
    try {
      key = createPublicKey({ key: text, format: 'pem' });
    } catch (error) {
      throw new KeyFormatError(`the public key PEM cannot be read (${(error as Error).message})`);
    }
    if (key.asymmetricKeyType !== 'ed25519') throw keyTypeError('public', key);
    return key;
  }
  const raw = decodeBase64Url(text);
  if (!raw || raw.length !== 32) {
    throw new KeyFormatError(
      `the public key cannot be read: ${describe(text)}; expected base64url (no padding) of the raw 32-byte Ed25519 public key (43 characters) or an SPKI PEM`,
    );
  }
  try {
    return createPublicKey({ key: Buffer.concat([SPKI_ED25519_PREFIX, raw]), format: 'der', type: 'spki' });
  } catch (error) {
    throw new KeyFormatError(`the public key cannot be read (${(error as Error).message})`);
  }
}

/** The raw 32 bytes of a public key. */
function rawPublicKey(key: KeyObject): Buffer {
  const der = key.export({ format: 'der', type: 'spki' });
  return der.subarray(SPKI_ED25519_PREFIX.length);
}

/** base64url (raw 32 bytes) of a public key given in any accepted form. */
export function encodePublicKey(publicKey: PublicKeyInput): string {
  return rawPublicKey(loadPublicKey(publicKey)).toString('base64url');
}

/** The public key (base64url of the raw 32 bytes) that belongs to a private key. */
export function publicKeyOf(privateKey: PrivateKeyInput): string {
  return rawPublicKey(createPublicKey(loadPrivateKey(privateKey))).toString('base64url');
}

/** A short, stable name for a public key: the first 16 hex characters of sha256 over its raw 32 bytes. */
export function keyIdOf(publicKey: PublicKeyInput): string {
  return createHash('sha256').update(rawPublicKey(loadPublicKey(publicKey))).digest('hex').slice(0, 16);
}

/** A fresh Ed25519 key pair in both private encodings. */
export function generateKeyPair(): GeneratedKeyPair {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  const privateDer = privateKey.export({ format: 'der', type: 'pkcs8' });
  return {
    publicKey: rawPublicKey(publicKey).toString('base64url'),
    privateKeyPem: privateKey.export({ format: 'pem', type: 'pkcs8' }).toString(),
    privateKeySeed: privateDer.subarray(PKCS8_ED25519_PREFIX.length).toString('base64url'),
  };
}

function toBytes(data: Uint8Array | string): Buffer {
  return typeof data === 'string' ? Buffer.from(data, 'utf8') : Buffer.from(data.buffer, data.byteOffset, data.byteLength);
}

/** Ed25519 signature (base64url, 86 characters) over the bytes, or over the UTF-8 of a string. */
export function sign(privateKey: PrivateKeyInput, data: Uint8Array | string): string {
  return cryptoSign(null, toBytes(data), loadPrivateKey(privateKey)).toString('base64url');
}

/**
 * True only when `signature` is a valid Ed25519 signature of the data by that public key. Never
 * throws: an unreadable key or signature is simply false.
 */
export function verify(publicKey: PublicKeyInput, data: Uint8Array | string, signature: string): boolean {
  try {
    if (typeof signature !== 'string') return false;
    const bytes = decodeBase64Url(signature);
    if (!bytes || bytes.length !== 64) return false;
    return cryptoVerify(null, toBytes(data), loadPublicKey(publicKey), bytes);
  } catch {
    return false;
  }
}
