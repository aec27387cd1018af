import type { ServiceDatabaseDefinition } from '@govmesh/nest-runtime';
import { CONTEXT_ENTITIES } from './entities';
import { CONTEXT_MIGRATIONS } from './migrations';

export const CONTEXT_SERVICE = 'context';

export const CONTEXT_DATABASE: ServiceDatabaseDefinition = {
  service: CONTEXT_SERVICE,
  schema: 'context',
  entities: CONTEXT_ENTITIES,
  migrations: CONTEXT_MIGRATIONS,
};
