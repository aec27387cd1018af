import type { ServiceDatabaseDefinition } from '@govmesh/nest-runtime';
import { MODEL_ROUTER_ENTITIES } from './entities';
import { MODEL_ROUTER_MIGRATIONS } from './migrations';

export const MODEL_ROUTER_SERVICE = 'model-router';

export const MODEL_ROUTER_DATABASE: ServiceDatabaseDefinition = {
  service: MODEL_ROUTER_SERVICE,
  schema: 'model_router',
  entities: MODEL_ROUTER_ENTITIES,
  migrations: MODEL_ROUTER_MIGRATIONS,
};
