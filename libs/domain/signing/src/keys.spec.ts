import { createPrivateKey, createPublicKey, generateKeyPairSync } from 'node:crypto';
import { KeyFormatError, decodeBase64Url, encodePublicKey, generateKeyPair, keyIdOf, loadPrivateKey, loadPublicKey, publicKeyOf, sign, verify } from './index';

// RFC 8032, section 7.1, TEST 1 (empty message) and TEST 2 (one byte 0x72).
const RFC8032_SEED = Buffer.from('9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60', 'hex').toString('base64url');
const RFC8032_PUBLIC = Buffer.from('d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a', 'hex').toString('base64url');
const RFC8032_SIG_EMPTY = Buffer.from(
  'e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b',
  'hex',
).toString('base64url');
const RFC8032_TEST2_SEED = Buffer.from('4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb', 'hex').toString('base64url');
const RFC8032_TEST2_PUBLIC = Buffer.from('3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c', 'hex').toString('base64url');
const RFC8032_SIG_72 = Buffer.from(
  '92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00',
  'hex',
).toString('base64url');

function thrown(fn: () => unknown): Error {
  try {
    fn();
  } catch (error) {
    return error as Error;
  }
  throw new Error('expected a throw');
}

describe('key encodings', () => {
  it('reads the RFC 8032 test vectors from their raw base64url forms and reproduces their signatures', () => {
    expect(publicKeyOf(RFC8032_SEED)).toBe(RFC8032_PUBLIC);
    expect(sign(RFC8032_SEED, new Uint8Array())).toBe(RFC8032_SIG_EMPTY);
    expect(verify(RFC8032_PUBLIC, '', RFC8032_SIG_EMPTY)).toBe(true);
    expect(publicKeyOf(RFC8032_TEST2_SEED)).toBe(RFC8032_TEST2_PUBLIC);
    expect(sign(RFC8032_TEST2_SEED, Buffer.from([0x72]))).toBe(RFC8032_SIG_72);
    expect(verify(RFC8032_TEST2_PUBLIC, Buffer.from([0x72]), RFC8032_SIG_72)).toBe(true);
  });

  it('generates a pair whose PEM and seed are the same key, with the JWK encodings', () => {
    const pair = generateKeyPair();
    expect(pair.publicKey).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(pair.privateKeySeed).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(pair.privateKeyPem).toMatch(/^-----BEGIN PRIVATE KEY-----\n[\s\S]+\n-----END PRIVATE KEY-----\n$/);
    expect(publicKeyOf(pair.privateKeyPem)).toBe(pair.publicKey);
    expect(publicKeyOf(pair.privateKeySeed)).toBe(pair.publicKey);
    const jwk = createPrivateKey(pair.privateKeyPem).export({ format: 'jwk' });
    expect(jwk).toMatchObject({ kty: 'OKP', crv: 'Ed25519', d: pair.privateKeySeed, x: pair.publicKey });
    expect(generateKeyPair().publicKey).not.toBe(pair.publicKey);
  });

  it('reads private keys with surrounding whitespace, and public keys as raw base64url or SPKI PEM', () => {
    const pair = generateKeyPair();
    const spki = createPublicKey(pair.privateKeyPem).export({ format: 'pem', type: 'spki' }).toString();
    expect(publicKeyOf(`\n  ${pair.privateKeyPem}\n\n`)).toBe(pair.publicKey);
    expect(publicKeyOf(`${pair.privateKeySeed}\n`)).toBe(pair.publicKey);
    expect(encodePublicKey(spki)).toBe(pair.publicKey);
    expect(encodePublicKey(` ${pair.publicKey}\n`)).toBe(pair.publicKey);
    expect(encodePublicKey(loadPrivateKey(pair.privateKeySeed))).toBe(pair.publicKey);
    const signature = sign(pair.privateKeyPem, 'hello');
    expect(verify(spki, 'hello', signature)).toBe(true);
    expect(verify(pair.publicKey, 'hello', signature)).toBe(true);
  });

  it('names a key by the first 16 hex characters of sha256 over its raw bytes', () => {
    expect(keyIdOf(RFC8032_PUBLIC)).toBe(
      require('node:crypto')
        .createHash('sha256')
        .update(Buffer.from(RFC8032_PUBLIC, 'base64url'))
        .digest('hex')
        .slice(0, 16),
    );
    expect(keyIdOf(RFC8032_PUBLIC)).toMatch(/^[0-9a-f]{16}$/);
    expect(keyIdOf(RFC8032_TEST2_PUBLIC)).not.toBe(keyIdOf(RFC8032_PUBLIC));
  });

  const rsa = generateKeyPairSync('rsa', { modulusLength: 1024 });
  const x25519 = generateKeyPairSync('x25519');
  const pair = generateKeyPair();

  it.each([
    ['empty text', '', /private key cannot be read: it is empty/],
    ['a word', 'not-a-key', /expected a PKCS#8 PEM .* or base64url .* 32-byte Ed25519 seed/],
    ['a seed with padding', `${RFC8032_SEED}=`, /base64url/],
    ['a seed in standard base64', Buffer.from('fb'.repeat(32), 'hex').toString('base64').replace(/=+$/, ''), /base64url/],
    ['a 31-byte seed', Buffer.alloc(31, 1).toString('base64url'), /32-byte/],
    ['a 64-byte (seed + public) key', Buffer.alloc(64, 1).toString('base64url'), /32-byte/],
    ['an RSA key', rsa.privateKey.export({ format: 'pem', type: 'pkcs8' }).toString(), /is a rsa key; govmesh uses Ed25519 keys only/],
    ['an X25519 key', x25519.privateKey.export({ format: 'pem', type: 'pkcs8' }).toString(), /is a x25519 key/],
    ['a public key PEM', createPublicKey(pair.privateKeyPem).export({ format: 'pem', type: 'spki' }).toString(), /this is a public key/],
    ['an encrypted PEM', '-----BEGIN ENCRYPTED PRIVATE KEY-----\nMIIB\n-----END ENCRYPTED PRIVATE KEY-----', /encrypted/],
    ['an OpenSSH key', '-----BEGIN OPENSSH PRIVATE KEY-----\nb3Bl\n-----END OPENSSH PRIVATE KEY-----', /OpenSSH format/],
    ['a PKCS#8 PEM with a broken body', '-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----', /private key PEM cannot be read/],
    ['an RSA PKCS#1 PEM', '-----BEGIN RSA PRIVATE KEY-----\nAAAA\n-----END RSA PRIVATE KEY-----', /PEM "RSA PRIVATE KEY" block/],
  ])('refuses %s as a private key with a KeyFormatError that says why', (_what, text, message) => {
    const error = thrown(() => loadPrivateKey(text));
    expect(error).toBeInstanceOf(KeyFormatError);
    expect(error.name).toBe('KeyFormatError');
    expect(error.message).toMatch(message);
  });

  it.each([
    ['empty text', '', /public key cannot be read: it is empty/],
    ['a 31-byte key', Buffer.alloc(31, 1).toString('base64url'), /raw 32-byte Ed25519 public key/],
    ['hex', 'd75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a', /raw 32-byte/],
    ['a private key PEM', pair.privateKeyPem, /expected an SPKI PEM/],
    ['an RSA public key', rsa.publicKey.export({ format: 'pem', type: 'spki' }).toString(), /is a rsa key/],
    ['an X25519 public key', x25519.publicKey.export({ format: 'pem', type: 'spki' }).toString(), /is a x25519 key/],
  ])('refuses %s as a public key with a KeyFormatError', (_what, text, message) => {
    const error = thrown(() => loadPublicKey(text));
    expect(error).toBeInstanceOf(KeyFormatError);
    expect(error.message).toMatch(message);
  });

  it('refuses non-text keys with a KeyFormatError rather than a TypeError', () => {
    expect(thrown(() => loadPrivateKey(undefined as unknown as string))).toBeInstanceOf(KeyFormatError);
    expect(thrown(() => loadPublicKey(42 as unknown as string))).toBeInstanceOf(KeyFormatError);
    expect(thrown(() => loadPrivateKey(createPublicKey(pair.privateKeyPem)))).toBeInstanceOf(KeyFormatError);
    expect(thrown(() => loadPrivateKey(rsa.privateKey))).toBeInstanceOf(KeyFormatError);
  });

  it('decodes only canonical, unpadded base64url', () => {
    expect(decodeBase64Url('AAEC')?.toString('hex')).toBe('000102');
    expect(decodeBase64Url('AAE')?.toString('hex')).toBe('0001');
    expect(decodeBase64Url('AAF')).toBeNull(); // non-zero unused bits: another spelling of 0x0001
    expect(decodeBase64Url('AAE=')).toBeNull();
    expect(decodeBase64Url('AA+/')).toBeNull();
    expect(decodeBase64Url('')).toBeNull();
  });
});

describe('sign and verify', () => {
  const pair = generateKeyPair();
  const other = generateKeyPair();
  const signature = sign(pair.privateKeySeed, 'pay 1 to acc-003');

  it('verifies the signature of exactly the signed bytes by exactly that key', () => {
    expect(signature).toMatch(/^[A-Za-z0-9_-]{86}$/);
    expect(verify(pair.publicKey, 'pay 1 to acc-003', signature)).toBe(true);
    expect(verify(pair.publicKey, Buffer.from('pay 1 to acc-003'), signature)).toBe(true);
    expect(verify(pair.publicKey, 'pay 82000 to acc-003', signature)).toBe(false);
    expect(verify(other.publicKey, 'pay 1 to acc-003', signature)).toBe(false);
    expect(verify(pair.publicKey, 'pay 1 to acc-003', sign(other.privateKeyPem, 'pay 1 to acc-003'))).toBe(false);
  });

  it('signs a string as its UTF-8 bytes', () => {
    expect(sign(pair.privateKeySeed, 'Zürich €')).toBe(sign(pair.privateKeySeed, Buffer.from('Zürich €', 'utf8')));
  });

  it.each([
    ['an empty signature', ''],
    ['a short signature', signature.slice(0, 40)],
    ['a signature with padding', `${signature}==`],
    ['a signature in standard base64', Buffer.from(signature, 'base64url').toString('base64')],
    ['a flipped bit', Buffer.from(Buffer.from(signature, 'base64url').map((b, i) => (i === 10 ? b ^ 1 : b))).toString('base64url')],
    ['a non-canonical spelling of the same bytes', signature.slice(0, 85) + String.fromCharCode(signature.charCodeAt(85) + 1)],
    ['garbage', '!!!not base64!!!'],
    ['a number', 42 as unknown as string],
    ['null', null as unknown as string],
  ])('returns false, without throwing, for %s', (_what, bad) => {
    expect(verify(pair.publicKey, 'pay 1 to acc-003', bad)).toBe(false);
  });

  it('returns false, without throwing, for unreadable public keys', () => {
    for (const key of ['', 'garbage', pair.privateKeyPem.slice(0, 20), Buffer.alloc(31).toString('base64url'), null as unknown as string]) {
      expect(verify(key, 'pay 1 to acc-003', signature)).toBe(false);
    }
  });

  it('throws a KeyFormatError when signing with an unreadable key', () => {
    expect(thrown(() => sign('nope', 'x'))).toBeInstanceOf(KeyFormatError);
  });
});
