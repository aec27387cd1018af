import { randomBytes } from 'node:crypto';
import { inspect } from 'node:util';
import { CredentialCryptoError, decryptSecret, encryptSecret, EnvKeyProvider, rewrapSecret, Secret, type EncryptedSecret } from './crypto';

const SECRET = 'sk_live_planted-secret-0123456789';
const key = (id: string) => ({ id, key: randomBytes(32) });

/** Flips one bit of a base64 field. */
function flip(value: string, byte = 0): string {
  const bytes = Buffer.from(value, 'base64');
  bytes[byte] ^= 0x01;
  return bytes.toString('base64');
}

async function refusal(work: Promise<unknown>): Promise<string> {
  try {
    await work;
  } catch (err) {
    expect(err).toBeInstanceOf(CredentialCryptoError);
    expect((err as Error).message).not.toContain(SECRET);
    return (err as CredentialCryptoError).code;
  }
  throw new Error('expected a refusal');
}

describe('connection secrets: AES-256-GCM envelope encryption', () => {
  const kid1 = key('kid1');
  const provider = new EnvKeyProvider([kid1]);
  let record: EncryptedSecret;

  beforeAll(async () => {
    record = await encryptSecret(provider, 'erp', SECRET);
  });

  it('round-trips a secret, storing the key id, wrapped data key, iv, tag and ciphertext and nothing in clear', async () => {
    expect(record.keyId).toBe('kid1');
    expect(Buffer.from(record.iv, 'base64')).toHaveLength(12);
    expect(Buffer.from(record.tag, 'base64')).toHaveLength(16);
    expect(Buffer.from(record.wrappedKey, 'base64')).toHaveLength(12 + 16 + 32);
    expect(JSON.stringify(record)).not.toContain(SECRET);
    expect(Buffer.from(record.ciphertext, 'base64').toString('utf8')).not.toContain('planted');
    expect((await decryptSecret(provider, 'erp', record)).reveal()).toBe(SECRET);
  });

  it('uses a fresh data key and iv for every encryption', async () => {
    const again = await encryptSecret(provider, 'erp', SECRET);
    expect(again.wrappedKey).not.toBe(record.wrappedKey);
    expect(again.iv).not.toBe(record.iv);
    expect(again.ciphertext).not.toBe(record.ciphertext);
  });

  it.each([
    ['ciphertext', (r: EncryptedSecret) => ({ ...r, ciphertext: flip(r.ciphertext) })],
    ['auth tag', (r: EncryptedSecret) => ({ ...r, tag: flip(r.tag, 15) })],
    ['iv', (r: EncryptedSecret) => ({ ...r, iv: flip(r.iv, 3) })],
    ['wrapped data key', (r: EncryptedSecret) => ({ ...r, wrappedKey: flip(r.wrappedKey, 40) })],
    ['truncated tag', (r: EncryptedSecret) => ({ ...r, tag: Buffer.from(r.tag, 'base64').subarray(0, 8).toString('base64') })],
  ])('refuses a record whose %s was altered', async (_, tamper) => {
    expect(await refusal(decryptSecret(provider, 'erp', tamper(record)))).toBe('connection_secret_unreadable');
  });

  it('refuses a ciphertext moved to another connection (the id is the additional authenticated data)', async () => {
    expect(await refusal(decryptSecret(provider, 'crm', record))).toBe('connection_secret_unreadable');
  });

  it('refuses a record wrapped under a key id the provider does not hold, and one relabelled with another id', async () => {
    expect(await refusal(decryptSecret(new EnvKeyProvider([key('kid9')]), 'erp', record))).toBe('connection_key_unknown');
    const other = new EnvKeyProvider([key('kid1')]);
    expect(await refusal(decryptSecret(other, 'erp', record))).toBe('connection_secret_unreadable');
    const both = new EnvKeyProvider([key('kid2'), kid1]);
    expect(await refusal(decryptSecret(both, 'erp', { ...record, keyId: 'kid2' }))).toBe('connection_secret_unreadable');
  });

  it('rotates the master key: records under the old key still decrypt, and re-wrap under the new one without re-encrypting', async () => {
    const kid2 = key('kid2');
    const rotated = new EnvKeyProvider([kid2, kid1]);
    expect((await decryptSecret(rotated, 'erp', record)).reveal()).toBe(SECRET);
    const rewrapped = await rewrapSecret(rotated, record);
    expect(rewrapped).toMatchObject({ keyId: 'kid2', iv: record.iv, tag: record.tag, ciphertext: record.ciphertext });
    expect(rewrapped.wrappedKey).not.toBe(record.wrappedKey);
    expect((await decryptSecret(rotated, 'erp', rewrapped)).reveal()).toBe(SECRET);
    // Once re-wrapped, the old key can go.
    const onlyNew = new EnvKeyProvider([kid2]);
    expect((await decryptSecret(onlyNew, 'erp', rewrapped)).reveal()).toBe(SECRET);
    expect(await refusal(decryptSecret(onlyNew, 'erp', record))).toBe('connection_key_unknown');
    expect(await rewrapSecret(rotated, rewrapped)).toBe(rewrapped);
  });

  it('reads GOVMESH_CONNECTION_KEYS, refusing a malformed value with the variable named and no key material', () => {
    const text = `kid2:${randomBytes(32).toString('base64')},kid1:${randomBytes(32).toString('base64url')}`;
    const fromEnv = EnvKeyProvider.fromText(text);
    expect(fromEnv.currentKeyId).toBe('kid2');
    expect(fromEnv.keyIds).toEqual(['kid2', 'kid1']);
    const short = randomBytes(16).toString('base64');
    expect(() => EnvKeyProvider.fromText(`kid1:${short}`)).toThrow('Config validation error: "GOVMESH_CONNECTION_KEYS" failed custom validation because key "kid1" must be 32 bytes (AES-256), got 16');
    expect(() => EnvKeyProvider.fromText('')).toThrow(/GOVMESH_CONNECTION_KEYS/);
    expect(inspect(fromEnv)).not.toContain(text.split(',')[0].split(':')[1]);
    expect(JSON.stringify(fromEnv)).toBe('{"currentKeyId":"kid2","keyIds":["kid2","kid1"]}');
  });
});

describe('Secret', () => {
  it('never shows its value when printed, logged, interpolated, serialised or spread', () => {
    const secret = new Secret(SECRET);
    expect(secret.reveal()).toBe(SECRET);
    for (const shown of [String(secret), `${secret}`, JSON.stringify({ secret }), inspect(secret), inspect({ nested: { secret } }, { depth: 5 }), JSON.stringify({ ...secret }), Object.keys(secret).join()]) {
      expect(shown).not.toContain(SECRET);
    }
    expect(JSON.stringify({ secret })).toBe('{"secret":"[redacted]"}');
  });
});
