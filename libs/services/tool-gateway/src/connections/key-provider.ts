import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Logger, type Provider } from '@nestjs/common';
import { GOVMESH_CONFIG, type GovmeshConfig } from '@govmesh/nest-runtime';
import { EnvKeyProvider, type KeyProvider } from './crypto';

/** The injection token of the master key provider of connection secrets. */
export const CONNECTION_KEY_PROVIDER = Symbol('govmesh.connection-key-provider');

/** Beside `service-keys.json` under the data directory, in the same spirit (mode 0600). */
export const CONNECTION_KEYS_FILE = 'connection-keys.json';

const VARIABLE = 'GOVMESH_CONNECTION_KEYS';

/**
 * The master keys of connection secrets: GOVMESH_CONNECTION_KEYS when set. A distributed process
 * without it refuses to start, naming the variable. The embedded mode generates a key on first
 * start and keeps it under the data directory (in memory for an in-memory database), as it does
 * for the service signing keys.
 */
export function connectionKeyProvider(config: GovmeshConfig, logger = new Logger('connections')): KeyProvider {
  if (config.keys.connection) return EnvKeyProvider.fromText(config.keys.connection, VARIABLE);
  if (config.mode === 'distributed') {
    throw new Error(
      `Config validation error: "${VARIABLE}" is required in distributed mode (the tool gateway encrypts connection secrets under it: <key id>:<base64 of 32 bytes>); ` +
        '`npx govmesh keygen --service` makes one',
    );
  }
  const fresh = () => `embedded-${randomBytes(4).toString('hex')}:${randomBytes(32).toString('base64')}`;
  if (config.dataDir.startsWith('memory://')) return EnvKeyProvider.fromText(fresh(), VARIABLE);
  const file = join(config.dataDir, CONNECTION_KEYS_FILE);
  if (existsSync(file)) {
    const stored = JSON.parse(readFileSync(file, 'utf8')) as { [VARIABLE]?: unknown };
    if (typeof stored[VARIABLE] !== 'string') throw new Error(`Config validation error: ${file} has no "${VARIABLE}" entry; delete it only if no connection was created (their secrets need it)`);
    return EnvKeyProvider.fromText(stored[VARIABLE], `${VARIABLE} in ${file}`);
  }
  const text = fresh();
  mkdirSync(config.dataDir, { recursive: true });
  writeFileSync(file, `${JSON.stringify({ [VARIABLE]: text }, null, 2)}\n`, { mode: 0o600 });
  logger.log(`generated the connection master key in ${file}`);
  return EnvKeyProvider.fromText(text, VARIABLE);
}

export const connectionKeyProviderFactory: Provider = {
  provide: CONNECTION_KEY_PROVIDER,
  inject: [GOVMESH_CONFIG],
  useFactory: (config: GovmeshConfig) => connectionKeyProvider(config),
};
