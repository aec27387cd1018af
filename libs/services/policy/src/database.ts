import type { ServiceDatabaseDefinition } from '@govmesh/nest-runtime';
import { POLICY_ENTITIES } from './entities';
import { POLICY_MIGRATIONS } from './migrations';

export const POLICY_SERVICE = 'policy';

export const POLICY_DATABASE: ServiceDatabaseDefinition = {
  service: POLICY_SERVICE,
  schema: 'policy',
  entities: POLICY_ENTITIES,
  migrations: POLICY_MIGRATIONS,
};
