import { execFileSync } from 'node:child_process';
import { resolve } from 'node:path';
import { Client } from 'pg';
import { adminDatabaseUrl } from './postgres';
// eslint-disable-next-line @nx/enforce-module-boundaries
import { ensureBuilt } from '../../../tools/kafka-test-broker';

/**
 * Before the integration tier: Postgres must answer, the test broker must be compiled, and the
 * apps must be built, because integration tests run them as separate processes.
 */
export default async function globalSetup(): Promise<void> {
  const root = resolve(__dirname, '../../..');
  const client = new Client({ connectionString: adminDatabaseUrl(), connectionTimeoutMillis: 5000 });
  try {
    await client.connect();
    await client.query('SELECT 1');
  } catch (err) {
    throw new Error(`integration tests need Postgres at ${adminDatabaseUrl()} (set TEST_DATABASE_ADMIN_URL): ${(err as Error).message}`);
  } finally {
    await client.end().catch(() => undefined);
  }
  if (!process.env['TEST_KAFKA_BROKERS'] && !process.env['KAFKA_BROKERS']) ensureBuilt();
  if (process.env['GOVMESH_TEST_SKIP_BUILD'] !== '1') {
    execFileSync(process.execPath, [resolve(root, 'node_modules/nx/dist/bin/nx.js'), 'run-many', '-t', 'build', '--projects=tag:type:app', '--output-style=static'], {
      cwd: root,
      stdio: ['ignore', 'ignore', 'inherit'],
      env: { ...process.env, NX_DAEMON: 'false' },
    });
  }
}
