import { DataSource, type DataSourceOptions, type EntitySchema, type MixedList } from 'typeorm';
import type { QueryDeepPartialEntity } from 'typeorm/query-builder/QueryPartialEntity';
import { PGliteConnectionQueue, pglitePoolDriver } from './pglite-pool';

export type DatabaseTarget = { kind: 'postgres'; url: string; poolSize?: number } | { kind: 'pglite'; queue: PGliteConnectionQueue };

export interface ServiceDatabaseOptions {
  /** The Postgres schema this service owns. */
  schema: string;
  // eslint-disable-next-line @typescript-eslint/no-unsafe-function-type
  entities: MixedList<Function | string | EntitySchema>;
  // eslint-disable-next-line @typescript-eslint/no-unsafe-function-type
  migrations: MixedList<Function | string>;
  target: DatabaseTarget;
  applicationName?: string;
}

/**
 * DataSource options for one service: its own schema, its own migrations table, never
 * `synchronize`. The same options serve Postgres and the embedded PGlite.
 */
export function serviceDataSourceOptions(options: ServiceDatabaseOptions): DataSourceOptions {
  const common = {
    type: 'postgres' as const,
    schema: options.schema,
    entities: options.entities,
    migrations: options.migrations,
    migrationsTableName: 'migrations',
    migrationsTransactionMode: 'each' as const,
    synchronize: false,
    migrationsRun: false,
    logging: ['error'] as ('error')[],
  };
  if (options.target.kind === 'pglite') {
    return { ...common, driver: pglitePoolDriver(options.target.queue), poolSize: 1 };
  }
  return {
    ...common,
    url: options.target.url,
    poolSize: options.target.poolSize ?? 10,
    applicationName: options.applicationName ?? `govmesh-${options.schema}`,
  };
}

/**
 * Creates the service's schema and runs its pending migrations. On Postgres this happens under
 * an advisory lock, so several instances of one service starting together migrate once; PGlite
 * is one process with one connection, so it needs no lock (and could not hold one while the
 * migrations run on that same connection).
 */
export async function migrateServiceDatabase(dataSource: DataSource, schema: string, target: DatabaseTarget): Promise<string[]> {
  const lockKey = `govmesh:migrate:${schema}`;
  const lockRunner = target.kind === 'postgres' ? dataSource.createQueryRunner() : undefined;
  try {
    if (lockRunner) await lockRunner.query('SELECT pg_advisory_lock(hashtext($1))', [lockKey]);
    await dataSource.query(`CREATE SCHEMA IF NOT EXISTS "${schema}"`);
    const applied = await dataSource.runMigrations({ transaction: 'each' });
    return applied.map((m) => m.name);
  } finally {
    if (lockRunner) {
      await lockRunner.query('SELECT pg_advisory_unlock(hashtext($1))', [lockKey]).catch(() => undefined);
      await lockRunner.release();
    }
  }
}

export async function createServiceDataSource(options: ServiceDatabaseOptions): Promise<DataSource> {
  const dataSource = new DataSource(serviceDataSourceOptions(options));
  await dataSource.initialize();
  await migrateServiceDatabase(dataSource, options.schema, options.target);
  return dataSource;
}

/**
 * What TypeORM would still change after the committed migrations ran: empty when entities and
 * migrations agree. The CI drift check and the migration generator both use it.
 */
export async function schemaDrift(dataSource: DataSource): Promise<{ up: string[]; down: string[] }> {
  const sql = await dataSource.driver.createSchemaBuilder().log();
  return { up: sql.upQueries.map((q) => q.query), down: sql.downQueries.map((q) => q.query).reverse() };
}

/**
 * TypeORM's deep-partial insert type cannot express jsonb columns typed as
 * Record<string, unknown>; rows are checked against the entity type here and handed over as is.
 */
export function insertable<T>(row: Partial<T>): QueryDeepPartialEntity<T> {
  return row as unknown as QueryDeepPartialEntity<T>;
}
