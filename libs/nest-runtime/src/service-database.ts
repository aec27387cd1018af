import { TypeOrmModule } from '@nestjs/typeorm';
import type { DynamicModule } from '@nestjs/common';
import { DataSource, type DataSourceOptions } from 'typeorm';
import { MESSAGING_ENTITIES } from '@govmesh/messaging';
import { migrateServiceDatabase, serviceDataSourceOptions, type DatabaseTarget } from '@govmesh/persistence';
import { DATABASE_TARGET } from './tokens';

export interface ServiceDatabaseDefinition {
  /** Service name; also the TypeORM connection name and (with dashes as underscores) the schema. */
  service: string;
  schema: string;
  // eslint-disable-next-line @typescript-eslint/no-unsafe-function-type
  entities: Function[];
  // eslint-disable-next-line @typescript-eslint/no-unsafe-function-type
  migrations: Function[];
  /** False for a store that publishes no events (no outbox, inbox, timers or effects). */
  messaging?: boolean;
}

/** Entities of a service including its outbox and inbox. */
// eslint-disable-next-line @typescript-eslint/no-unsafe-function-type
export function serviceEntities(definition: ServiceDatabaseDefinition): Function[] {
  return definition.messaging === false ? [...definition.entities] : [...definition.entities, ...MESSAGING_ENTITIES];
}

/**
 * A service's own DataSource: its schema, its committed migrations (run at start), never
 * synchronize. Injected with `@InjectDataSource(service)`.
 */
export function serviceDatabaseModule(definition: ServiceDatabaseDefinition): DynamicModule {
  let target: DatabaseTarget;
  return TypeOrmModule.forRootAsync({
    name: definition.service,
    inject: [DATABASE_TARGET],
    useFactory: (databaseTarget: DatabaseTarget) => {
      target = databaseTarget;
      return {
        ...serviceDataSourceOptions({
          schema: definition.schema,
          entities: serviceEntities(definition),
          migrations: definition.migrations,
          target: databaseTarget,
          applicationName: `govmesh-${definition.service}`,
        }),
        name: definition.service,
      };
    },
    dataSourceFactory: async (options?: DataSourceOptions) => {
      const dataSource = new DataSource(options!);
      await dataSource.initialize();
      await migrateServiceDatabase(dataSource, definition.schema, target);
      return dataSource;
    },
  });
}
