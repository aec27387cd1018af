import { Client } from 'pg';

/**
 * The Postgres server tests create their scratch databases on: TEST_DATABASE_ADMIN_URL, else
 * DATABASE_URL, else 127.0.0.1:5432 as postgres (trust auth). Every test file gets a fresh database.
 */
export function adminDatabaseUrl(): string {
  return process.env['TEST_DATABASE_ADMIN_URL'] ?? process.env['DATABASE_URL'] ?? 'postgres://postgres@127.0.0.1:5432/postgres';
}

export interface ScratchDatabase {
  url: string;
  name: string;
  query<T = Record<string, unknown>>(sql: string, params?: unknown[]): Promise<T[]>;
  drop(): Promise<void>;
}

/** A new, empty database for one test file; dropped afterwards. */
export async function createScratchDatabase(label: string): Promise<ScratchDatabase> {
  const name = `govmesh_test_${label.replace(/[^a-z0-9]/gi, '_').toLowerCase()}_${process.pid}_${Date.now()}`;
  const admin = new Client({ connectionString: adminDatabaseUrl() });
  await admin.connect();
  await admin.query(`CREATE DATABASE "${name}"`);
  await admin.end();
  const url = new URL(adminDatabaseUrl());
  url.pathname = `/${name}`;
  const client = new Client({ connectionString: url.toString() });
  await client.connect();
  return {
    url: url.toString(),
    name,
    query: async <T>(sql: string, params?: unknown[]) => (await client.query(sql, params)).rows as T[],
    drop: async () => {
      await client.end();
      const a = new Client({ connectionString: adminDatabaseUrl() });
      await a.connect();
      await a.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
      await a.end();
    },
  };
}
