import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { encodePublicKey, generateKeyPair, publicKeyOf, sign, verify } from '@govmesh/signing';
import { toGovmeshConfig, validateEnvironment } from './config';
import { SERVICE_KEYS_FILE, ServiceKeys } from './keys';

const DISTRIBUTED = { KAFKA_BROKERS: 'kafka:9092', DATABASE_URL: 'postgres://govmesh:secret@db:5432/govmesh' };

function keysFor(env: NodeJS.ProcessEnv, processName = 'embedded'): ServiceKeys {
  return new ServiceKeys(toGovmeshConfig(validateEnvironment(env), processName, 8080));
}

/** The public half as published: base64url of the raw key. */
const published = (keys: ServiceKeys, pair: 'grant' | 'ingress' | 'verifier') => encodePublicKey(keys.publicKey(pair));

describe('ServiceKeys', () => {
  let dir: string;

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'govmesh-keys-'));
  });

  afterEach(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  it('takes the verifier pair from its variables, each half from its own', () => {
    const verifier = generateKeyPair();
    const signer = keysFor({ ...DISTRIBUTED, GOVMESH_VERIFIER_SIGNING_KEY: verifier.privateKeySeed }, 'verifier');
    const checker = keysFor({ ...DISTRIBUTED, GOVMESH_VERIFIER_PUBLIC_KEY: verifier.publicKey }, 'tool-gateway');
    const message = Buffer.from('GET /v1/systems/sandbox/accounts/acc-001');
    expect(verify(checker.publicKey('verifier'), message, sign(signer.signingKey('verifier'), message))).toBe(true);
    expect(published(checker, 'verifier')).toBe(verifier.publicKey);
  });

  it('takes the gateway pair from its variables: the gateway signs, the verifier checks', () => {
    const gateway = generateKeyPair();
    const signer = keysFor({ ...DISTRIBUTED, GOVMESH_GATEWAY_SIGNING_KEY: gateway.privateKeySeed }, 'tool-gateway');
    const checker = keysFor({ ...DISTRIBUTED, GOVMESH_GATEWAY_PUBLIC_KEY: gateway.publicKey }, 'verifier');
    const message = Buffer.from('answer of read 0');
    expect(verify(checker.publicKey('gateway'), message, sign(signer.signingKey('gateway'), message))).toBe(true);
    expect(() => checker.signingKey('gateway')).toThrow(/"GOVMESH_GATEWAY_SIGNING_KEY" is required in distributed mode \(tool-gateway signs with GOVMESH_GATEWAY_SIGNING_KEY, verifier checks with GOVMESH_GATEWAY_PUBLIC_KEY\)/);
  });

  it('in distributed mode, throws only when a service asks for a verifier half it was not given, naming the variable', () => {
    const keys = keysFor({ ...DISTRIBUTED, GOVMESH_DATA_DIR: dir }, 'verifier');
    expect(() => keys.signingKey('verifier')).toThrow(
      /"GOVMESH_VERIFIER_SIGNING_KEY" is required in distributed mode \(verifier signs with GOVMESH_VERIFIER_SIGNING_KEY, tool-gateway checks with GOVMESH_VERIFIER_PUBLIC_KEY\)/,
    );
    expect(() => keys.publicKey('verifier')).toThrow(/"GOVMESH_VERIFIER_PUBLIC_KEY" is required in distributed mode/);
    expect(existsSync(join(dir, SERVICE_KEYS_FILE))).toBe(false);
  });

  it('names the verifier variable whose value is not a usable key', () => {
    expect(() => keysFor({ ...DISTRIBUTED, GOVMESH_VERIFIER_PUBLIC_KEY: 'not-a-key' }).publicKey('verifier')).toThrow(/"GOVMESH_VERIFIER_PUBLIC_KEY" is not a usable Ed25519 key/);
  });

  it('embedded, generates the five pairs into the data directory with mode 0600 and reads them back', () => {
    const first = keysFor({ GOVMESH_DATA_DIR: dir });
    const verifierPublic = published(first, 'verifier');
    const file = join(dir, SERVICE_KEYS_FILE);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    const stored = JSON.parse(readFileSync(file, 'utf8')) as Record<string, string>;
    expect(Object.keys(stored).sort()).toEqual(['audit', 'gateway', 'grant', 'ingress', 'verifier']);
    expect(publicKeyOf(stored['verifier']!)).toBe(verifierPublic);
    expect(new Set(Object.values(stored)).size).toBe(5);

    const again = keysFor({ GOVMESH_DATA_DIR: dir });
    expect(published(again, 'verifier')).toBe(verifierPublic);
    expect(published(again, 'grant')).toBe(publicKeyOf(stored['grant']!));
  });

  it('embedded, adds the verifier pair to a keys file written without it, keeping the grant and ingress pairs', () => {
    const grant = generateKeyPair();
    const ingress = generateKeyPair();
    const file = join(dir, SERVICE_KEYS_FILE);
    writeFileSync(file, `${JSON.stringify({ grant: grant.privateKeySeed, ingress: ingress.privateKeySeed }, null, 2)}\n`, { mode: 0o644 });

    const keys = keysFor({ GOVMESH_DATA_DIR: dir });
    const verifierPublic = published(keys, 'verifier');
    expect(published(keys, 'grant')).toBe(grant.publicKey);
    expect(published(keys, 'ingress')).toBe(ingress.publicKey);

    const stored = JSON.parse(readFileSync(file, 'utf8')) as Record<string, string>;
    expect(stored['grant']).toBe(grant.privateKeySeed);
    expect(stored['ingress']).toBe(ingress.privateKeySeed);
    expect(publicKeyOf(stored['verifier']!)).toBe(verifierPublic);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(readFileSync(file, 'utf8')).toBe(`${JSON.stringify(stored, null, 2)}\n`);

    // The next start reads the completed file as it is.
    const again = keysFor({ GOVMESH_DATA_DIR: dir });
    expect(published(again, 'verifier')).toBe(verifierPublic);
    expect(readFileSync(file, 'utf8')).toBe(`${JSON.stringify(stored, null, 2)}\n`);
  });

  it('embedded with an in-memory database, keeps the pairs in memory only', () => {
    const keys = keysFor({ GOVMESH_DATA_DIR: 'memory://' });
    const message = Buffer.from('read');
    expect(verify(keys.publicKey('verifier'), message, sign(keys.signingKey('verifier'), message))).toBe(true);
    expect(published(keys, 'verifier')).not.toBe(published(keys, 'grant'));
  });
});
