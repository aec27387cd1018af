import type { ServiceDatabaseDefinition } from '@govmesh/nest-runtime';
import { ORCHESTRATOR_ENTITIES } from './entities';
import { ORCHESTRATOR_MIGRATIONS } from './migrations';

export const ORCHESTRATOR_SERVICE = 'orchestrator';

export const ORCHESTRATOR_DATABASE: ServiceDatabaseDefinition = {
  service: ORCHESTRATOR_SERVICE,
  schema: 'orchestrator',
  entities: ORCHESTRATOR_ENTITIES,
  migrations: ORCHESTRATOR_MIGRATIONS,
};
