import type { ServiceDatabaseDefinition } from '@govmesh/nest-runtime';
import { VERIFIER_ENTITIES } from './entities';
import { VERIFIER_MIGRATIONS } from './migrations';

export const VERIFIER_SERVICE = 'verifier';

export const VERIFIER_DATABASE: ServiceDatabaseDefinition = {
  service: VERIFIER_SERVICE,
  schema: 'verifier',
  entities: VERIFIER_ENTITIES,
  migrations: VERIFIER_MIGRATIONS,
};
