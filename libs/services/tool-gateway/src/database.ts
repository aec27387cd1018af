import type { ServiceDatabaseDefinition } from '@govmesh/nest-runtime';
import { TOOL_GATEWAY_ENTITIES } from './entities';
import { TOOL_GATEWAY_MIGRATIONS } from './migrations';

export const TOOL_GATEWAY_SERVICE = 'tool-gateway';

export const TOOL_GATEWAY_DATABASE: ServiceDatabaseDefinition = {
  service: TOOL_GATEWAY_SERVICE,
  schema: 'tool_gateway',
  entities: TOOL_GATEWAY_ENTITIES,
  migrations: TOOL_GATEWAY_MIGRATIONS,
};
