import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { toGovmeshConfig, validateEnvironment } from '@govmesh/nest-runtime';
import { decryptSecret, encryptSecret } from './crypto';
import { CONNECTION_KEYS_FILE, connectionKeyProvider } from './key-provider';

const DISTRIBUTED = { KAFKA_BROKERS: 'kafka:9092', DATABASE_URL: 'postgres://db/govmesh' };
const config = (env: NodeJS.ProcessEnv) => toGovmeshConfig(validateEnvironment(env), 'tool-gateway', 3005);
const quiet = { log: () => undefined } as never;

describe('the master keys of connection secrets', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'govmesh-connection-keys-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('uses GOVMESH_CONNECTION_KEYS when set, the first key current', () => {
    const text = `kid2:${randomBytes(32).toString('base64')},kid1:${randomBytes(32).toString('base64')}`;
    expect(connectionKeyProvider(config({ ...DISTRIBUTED, GOVMESH_CONNECTION_KEYS: text })).currentKeyId).toBe('kid2');
  });

  it('refuses to start a distributed process without it, naming the variable', () => {
    expect(() => connectionKeyProvider(config(DISTRIBUTED))).toThrow('Config validation error: "GOVMESH_CONNECTION_KEYS" is required in distributed mode');
  });

  it('generates a key in embedded mode, kept beside the service keys (mode 0600) and used again at the next start', async () => {
    const first = connectionKeyProvider(config({ GOVMESH_DATA_DIR: dir }), quiet);
    const file = join(dir, CONNECTION_KEYS_FILE);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(JSON.parse(readFileSync(file, 'utf8'))).toEqual({ GOVMESH_CONNECTION_KEYS: expect.stringMatching(/^embedded-[0-9a-f]{8}:[A-Za-z0-9+/]{43}=$/) });
    const record = await encryptSecret(first, 'erp', 'the secret');
    const second = connectionKeyProvider(config({ GOVMESH_DATA_DIR: dir }), quiet);
    expect(second.currentKeyId).toBe(first.currentKeyId);
    expect((await decryptSecret(second, 'erp', record)).reveal()).toBe('the secret');
  });

  it('keeps an in-memory database\'s key in memory only', () => {
    const a = connectionKeyProvider(config({ GOVMESH_DATA_DIR: 'memory://' }));
    const b = connectionKeyProvider(config({ GOVMESH_DATA_DIR: 'memory://' }));
    expect(a.currentKeyId).not.toBe(b.currentKeyId);
  });
});
