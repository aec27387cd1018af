import type { ServiceDatabaseDefinition } from '@govmesh/nest-runtime';
import { TELEMETRY_ENTITIES } from './entities';
import { TELEMETRY_MIGRATIONS } from './migrations';

export const TELEMETRY_SERVICE = 'telemetry';

export const TELEMETRY_DATABASE: ServiceDatabaseDefinition = {
  service: TELEMETRY_SERVICE,
  schema: 'telemetry',
  entities: TELEMETRY_ENTITIES,
  migrations: TELEMETRY_MIGRATIONS,
};
